using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>A run cut off after any epoch and resumed from its checkpoint ends bit-identical to the uninterrupted run.</summary>
public class ResumeTests
{
    private static readonly NetworkShape Shape = new(Blobs.D, 8, 6, Blobs.Classes, SkipKind.Diagonal);
    private static readonly LabeledData Train = Blobs.Draw(120, seed: 11, separation: 2.0, noisyLabels: 0.2);
    private static readonly LabeledData Validation = Blobs.Draw(60, seed: 12, separation: 2.0, noisyLabels: 0.2);

    public static TheoryData<string, OptimizerKind, int, KeepRule> Cases() => new()
    {
        { "SGD with Nesterov momentum, cut after epoch 1", OptimizerKind.Sgd, 1, KeepRule.LowestValidationLoss },
        { "Adam, cut after epoch 4", OptimizerKind.Adam, 4, KeepRule.LowestValidationLoss },
        { "AdamW, cut after epoch 7", OptimizerKind.AdamW, 7, KeepRule.LowestValidationLoss },
        { "Adam keeping the most accurate epoch, cut after epoch 3", OptimizerKind.Adam, 3, KeepRule.HighestValidationAccuracy },
        { "AdamW keeping the most accurate epoch, cut after epoch 6", OptimizerKind.AdamW, 6, KeepRule.HighestValidationAccuracy },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_resumed_run_ends_bit_identical(string name, OptimizerKind kind, int cut, KeepRule keep)
    {
        var options = Options(kind) with { Keep = keep };
        var checkpoints = new List<TrainingCheckpoint>();
        var whole = Trainer.Train(Shape, Train, Validation, options, (_, c) => checkpoints.Add(c));
        var resumed = Trainer.Train(Shape, Train, Validation, options, resume: checkpoints[cut - 1]);
        Assert.True(whole.History.Count > cut, $"{name}: the run must outlast the cut");
        Assert.Equal(Bits(whole.Parameters), Bits(resumed.Parameters));
        Assert.Equal(whole.History, resumed.History);
        Assert.Equal((whole.Stop, whole.StopEpoch, whole.KeptEpoch), (resumed.Stop, resumed.StopEpoch, resumed.KeptEpoch));
    }

    [Fact]
    public void Resuming_a_finished_run_changes_nothing()
    {
        var options = Options(OptimizerKind.Adam) with { Patience = null, Epochs = 3 };
        TrainingCheckpoint? last = null;
        var whole = Trainer.Train(Shape, Train, Validation, options, (_, c) => last = c);
        var resumed = Trainer.Train(Shape, Train, Validation, options, resume: last);
        Assert.Equal(Bits(whole.Parameters), Bits(resumed.Parameters));
        Assert.Equal(whole.History, resumed.History);
    }

    [Fact]
    public void A_checkpoint_of_another_shape_is_refused()
    {
        TrainingCheckpoint? last = null;
        Trainer.Train(Shape, Train, Validation, Options(OptimizerKind.Adam) with { Epochs = 3 }, (_, c) => last = c);
        var wider = new NetworkShape(Blobs.D, 9, 6, Blobs.Classes, SkipKind.Diagonal);
        var e = Assert.Throws<ArgumentException>(() => Trainer.Train(wider, Train, Validation, Options(OptimizerKind.Adam), resume: last));
        Assert.Equal("resume", e.ParamName);
        Assert.Contains("expected", e.Message, StringComparison.Ordinal);
    }

    private static TrainingOptions Options(OptimizerKind kind) => new()
    {
        Epochs = 12,
        BatchSize = 16,
        Seed = 5,
        Patience = 4,
        Optimizer = new()
        {
            Kind = kind,
            LearningRate = kind == OptimizerKind.Sgd ? 0.05f : 0.01f,
            Momentum = kind == OptimizerKind.Sgd ? 0.9f : 0f,
            Nesterov = kind == OptimizerKind.Sgd,
            WeightDecay = 0.01f,
        },
        Schedule = new() { Kind = ScheduleKind.Cosine, WarmupEpochs = 2 },
    };

    private static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];
}
