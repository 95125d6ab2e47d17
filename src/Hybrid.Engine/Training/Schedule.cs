namespace Hybrid.Engine.Training;

public enum ScheduleKind
{
    Constant,

    /// <summary>Multiply by <see cref="Schedule.StepFactor"/> every <see cref="Schedule.StepEpochs"/> epochs.</summary>
    Step,

    /// <summary>Half a cosine from the base rate down to <see cref="Schedule.MinimumFactor"/> of it at the last epoch.</summary>
    Cosine,
}

/// <summary>
/// The learning rate as a function of training progress, evaluated every step. An optional linear
/// warm-up ramps from one step's worth up to the base rate over <see cref="WarmupEpochs"/>, and the
/// decay runs over the epochs after it.
/// </summary>
public sealed record Schedule
{
    public ScheduleKind Kind { get; init; } = ScheduleKind.Constant;

    public int WarmupEpochs { get; init; }

    public int StepEpochs { get; init; } = 10;

    public float StepFactor { get; init; } = 0.1f;

    public float MinimumFactor { get; init; }

    /// <summary>The factor on the base rate at step <paramref name="step"/> (0-based) of <paramref name="stepsPerEpoch"/> × <paramref name="epochs"/>.</summary>
    public double Factor(long step, int stepsPerEpoch, int epochs)
    {
        var warmupSteps = (long)WarmupEpochs * stepsPerEpoch;
        if (step < warmupSteps) return (step + 1) / (double)warmupSteps;
        var epochAfterWarmup = (step - warmupSteps) / stepsPerEpoch;
        return Kind switch
        {
            ScheduleKind.Constant => 1.0,
            ScheduleKind.Step => Math.Pow(StepFactor, epochAfterWarmup / StepEpochs),
            ScheduleKind.Cosine => CosineFactor(step - warmupSteps, (long)epochs * stepsPerEpoch - warmupSteps),
            _ => throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown schedule kind"),
        };
    }

    public void Check(int epochs)
    {
        OptimizerSettings.Require(Enum.IsDefined(Kind), nameof(Kind), "Constant, Step or Cosine", Kind);
        OptimizerSettings.Require(WarmupEpochs >= 0 && WarmupEpochs < Math.Max(epochs, 1), nameof(WarmupEpochs), $"in [0, {epochs}) (the epochs)", WarmupEpochs);
        OptimizerSettings.Require(StepEpochs >= 1, nameof(StepEpochs), "at least 1", StepEpochs);
        OptimizerSettings.Require(StepFactor > 0f && StepFactor <= 1f, nameof(StepFactor), "in (0, 1]", StepFactor);
        OptimizerSettings.Require(MinimumFactor >= 0f && MinimumFactor <= 1f, nameof(MinimumFactor), "in [0, 1]", MinimumFactor);
    }

    private double CosineFactor(long step, long steps)
    {
        var progress = steps <= 1 ? 0.0 : Math.Min(1.0, step / (double)(steps - 1));
        return MinimumFactor + (1.0 - MinimumFactor) * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}
