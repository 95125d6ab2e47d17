namespace Hybrid.Engine.Training;

/// <summary>
/// Everything a run needs to continue after an epoch bit for bit: the weights, the optimizer's
/// state, the best epoch kept so far and the history. Each epoch's batches depend only on the seed
/// and the epoch number, so a resumed run sees exactly the batches the uninterrupted one would.
/// </summary>
public sealed record TrainingCheckpoint(
    int Epoch,
    float[] Parameters,
    float[] OptimizerFirst,
    float[] OptimizerSecond,
    long OptimizerSteps,
    float[] Kept,
    int KeptEpoch,
    double BestValidationLoss,
    IReadOnlyList<EpochMetrics> History);
