using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>The learning-rate factor at exact steps of each schedule, and what Check refuses.</summary>
public class ScheduleTests
{
    // Factors are a few double operations (a cosine, a power); 1e-12 is far below any off-by-one-step
    // error, which moves a factor by ≥ 1e-3 in these cases.
    private const double FactorTolerance = 1e-12;

    private const int StepsPerEpoch = 3;
    private const int Epochs = 7;

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(20)]
    public void Constant_is_one_at_every_step(long step) =>
        Assert.Equal(1.0, new Schedule().Factor(step, StepsPerEpoch, Epochs));

    // StepEpochs = 2, StepFactor = 0.5, three steps per epoch: epochs 0–1 (steps 0–5) at 1, epochs 2–3 at 0.5, …
    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(5, 1.0)]
    [InlineData(6, 0.5)]
    [InlineData(11, 0.5)]
    [InlineData(12, 0.25)]
    [InlineData(20, 0.125)]
    public void Step_multiplies_by_the_factor_every_StepEpochs_epochs(long step, double expected)
    {
        var schedule = new Schedule { Kind = ScheduleKind.Step, StepEpochs = 2, StepFactor = 0.5f };
        Assert.Equal(expected, schedule.Factor(step, StepsPerEpoch, Epochs), FactorTolerance);
    }

    // 21 steps, so progress = step / 20 and MinimumFactor = 0.25: f = 0.25 + 0.75·(1 + cos(π·step/20))/2.
    [Theory]
    [InlineData("first step", 0, 1.0)]
    [InlineData("a quarter", 5, 0.8901650429449552)]
    [InlineData("halfway", 10, 0.625)]
    [InlineData("second to last", 19, 0.2546168722768234)]
    [InlineData("last step", 20, 0.25)]
    public void Cosine_runs_from_one_at_the_first_step_to_MinimumFactor_at_the_last(string name, long step, double expected)
    {
        var schedule = new Schedule { Kind = ScheduleKind.Cosine, MinimumFactor = 0.25f };
        Assert.True(Math.Abs(expected - schedule.Factor(step, StepsPerEpoch, Epochs)) <= FactorTolerance,
            $"{name}: expected {expected:R}, found {schedule.Factor(step, StepsPerEpoch, Epochs):R}");
    }

    [Fact]
    public void Cosine_of_a_single_step_stays_at_one() =>
        Assert.Equal(1.0, new Schedule { Kind = ScheduleKind.Cosine, MinimumFactor = 0.25f }.Factor(0, 1, 1));

    // Two warm-up epochs of three steps ramp (step + 1)/6; the cosine then runs over the 15 steps left.
    [Theory]
    [InlineData("first warm-up step", 0, 1.0 / 6)]
    [InlineData("mid warm-up", 2, 0.5)]
    [InlineData("last warm-up step", 5, 1.0)]
    [InlineData("first decay step", 6, 1.0)]
    [InlineData("mid decay", 13, 0.625)]
    [InlineData("last step", 20, 0.25)]
    public void Warmup_ramps_linearly_then_the_decay_starts_from_one(string name, long step, double expected)
    {
        var schedule = new Schedule { Kind = ScheduleKind.Cosine, WarmupEpochs = 2, MinimumFactor = 0.25f };
        var factor = schedule.Factor(step, StepsPerEpoch, Epochs);
        Assert.True(Math.Abs(expected - factor) <= FactorTolerance, $"{name}: expected {expected:R}, found {factor:R}");
    }

    // The step decay counts epochs from the end of the warm-up: one warm-up epoch (steps 0–2), then
    // StepEpochs = 2 at 1 (steps 3–8) before the first halving at step 9.
    [Theory]
    [InlineData(3, 1.0)]
    [InlineData(8, 1.0)]
    [InlineData(9, 0.5)]
    public void Step_decay_counts_epochs_after_the_warmup(long step, double expected)
    {
        var schedule = new Schedule { Kind = ScheduleKind.Step, WarmupEpochs = 1, StepEpochs = 2, StepFactor = 0.5f };
        Assert.Equal(expected, schedule.Factor(step, StepsPerEpoch, Epochs), FactorTolerance);
    }

    public static TheoryData<string, Schedule, string, string> Refusals() => new()
    {
        { "warm-up as long as the run", new Schedule { WarmupEpochs = Epochs }, nameof(Schedule.WarmupEpochs), "WarmupEpochs: expected in [0, 7) (the epochs), found 7" },
        { "negative warm-up", new Schedule { WarmupEpochs = -1 }, nameof(Schedule.WarmupEpochs), "found -1" },
        { "StepEpochs 0", new Schedule { Kind = ScheduleKind.Step, StepEpochs = 0 }, nameof(Schedule.StepEpochs), "StepEpochs: expected at least 1, found 0" },
        { "StepFactor 0", new Schedule { Kind = ScheduleKind.Step, StepFactor = 0f }, nameof(Schedule.StepFactor), "StepFactor: expected in (0, 1], found 0" },
        { "StepFactor above 1", new Schedule { Kind = ScheduleKind.Step, StepFactor = 1.5f }, nameof(Schedule.StepFactor), "found 1.5" },
        { "negative MinimumFactor", new Schedule { Kind = ScheduleKind.Cosine, MinimumFactor = -0.5f }, nameof(Schedule.MinimumFactor), "MinimumFactor: expected in [0, 1], found -0.5" },
        { "MinimumFactor above 1", new Schedule { Kind = ScheduleKind.Cosine, MinimumFactor = 2f }, nameof(Schedule.MinimumFactor), "found 2" },
        { "undefined kind", new Schedule { Kind = (ScheduleKind)9 }, nameof(Schedule.Kind), "Kind: expected Constant, Step or Cosine, found 9" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Check_refuses(string name, Schedule schedule, string parameter, string fragment)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => schedule.Check(Epochs));
        Assert.Equal(parameter, e.ParamName);
        Assert.True(e.Message.Contains(fragment, StringComparison.Ordinal), $"{name}: \"{e.Message}\" lacks \"{fragment}\"");
    }

    [Fact]
    public void Check_accepts_the_defaults_and_the_longest_warmup() =>
        new Schedule { Kind = ScheduleKind.Cosine, WarmupEpochs = Epochs - 1, MinimumFactor = 1f }.Check(Epochs);
}
