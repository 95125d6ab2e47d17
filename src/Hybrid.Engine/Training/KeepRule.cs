namespace Hybrid.Engine.Training;

/// <summary>
/// Which epoch's weights a run with validation data keeps, and so what early stopping waits on. The
/// loss rule favours calibrated probabilities; the accuracy rule the figure a sweep ranks by, which
/// keeps rising after the loss turns once a model grows confident.
/// </summary>
public enum KeepRule
{
    /// <summary>The epoch of lowest validation loss (the first of equals).</summary>
    LowestValidationLoss,

    /// <summary>The epoch of highest validation accuracy (the first of equals).</summary>
    HighestValidationAccuracy,
}
