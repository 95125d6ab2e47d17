namespace Hybrid.Engine.Training;

/// <summary>Everything a training run needs besides the shape and the data. Budgets are in epochs, never seconds.</summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 30;

    /// <summary>Rows per mini-batch; a batch larger than the training data is clamped to it (one full batch per epoch).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>The one seed behind every random draw: initialization and each epoch's shuffle.</summary>
    public ulong Seed { get; init; }

    /// <summary>Threads for the matrix products; results are bit-identical for every count.</summary>
    public int Threads { get; init; } = 1;

    public OptimizerSettings Optimizer { get; init; } = new();

    public Schedule Schedule { get; init; } = new();

    /// <summary>Which epoch's weights are kept when there is validation data.</summary>
    public KeepRule Keep { get; init; } = KeepRule.LowestValidationLoss;

    /// <summary>Stop after this many epochs without a better epoch under <see cref="Keep"/> (null: never); the best epoch's weights are kept.</summary>
    public int? Patience { get; init; }

    public void Check()
    {
        OptimizerSettings.Require(Epochs >= 1 && Epochs <= 1_000_000, nameof(Epochs), "in [1, 1000000]", Epochs);
        OptimizerSettings.Require(BatchSize >= 1, nameof(BatchSize), "at least 1", BatchSize);
        OptimizerSettings.Require(Threads >= 1 && Threads <= 256, nameof(Threads), "in [1, 256]", Threads);
        OptimizerSettings.Require(Enum.IsDefined(Keep), nameof(Keep), "LowestValidationLoss or HighestValidationAccuracy", Keep);
        OptimizerSettings.Require(Patience is null or >= 1, nameof(Patience), "null or at least 1", Patience ?? 0);
        Optimizer.Check();
        Schedule.Check(Epochs);
    }
}
