namespace Hybrid.Engine.Training;

/// <summary>
/// One epoch's numbers. Training loss and accuracy are means over the epoch's mini-batches as they
/// were trained (the weights move during the epoch); validation is one pass after the epoch.
/// Losses are mean cross-entropy, without the weight penalty.
/// </summary>
public sealed record EpochMetrics(
    int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy, double LearningRate);

public enum StopReason
{
    /// <summary>Every epoch ran.</summary>
    Completed,

    /// <summary>The validation loss stopped improving for the patience; the best epoch's weights were kept.</summary>
    EarlyStopped,

    /// <summary>The loss turned NaN or infinite; the weights are those after the last finite epoch.</summary>
    Diverged,
}

/// <summary>How a run ended: its history, why it stopped, and which epoch's weights it kept.</summary>
public sealed record TrainingResult(
    float[] Parameters, IReadOnlyList<EpochMetrics> History, StopReason Stop, int StopEpoch, int KeptEpoch);
