using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>The epoch loop end to end: it learns, it is deterministic, and it stops for the documented reasons.</summary>
public class TrainerTests
{
    // Blobs 4·√2 apart with unit noise: each pair of classes overlaps by Φ(−2√2) ≈ 0.23%, so the
    // Bayes accuracy is ≈ 99.5%, about one error in 150 validation rows; 97% allows four. Untrained
    // (or trained uphill) the network sits near chance, 33%.
    private const double LearnedAccuracy = 0.97;

    private static readonly NetworkShape Shape = new(Blobs.D, 8, 8, Blobs.Classes);
    private static readonly LabeledData Train = Blobs.Draw(300, seed: 1);
    private static readonly LabeledData Validation = Blobs.Draw(150, seed: 2);

    private static readonly TrainingOptions Options = new()
    {
        Epochs = 10,
        BatchSize = 16,
        Seed = 3,
        Optimizer = new() { Kind = OptimizerKind.Adam, LearningRate = 0.01f },
    };

    public static TheoryData<SkipKind> SkipKinds() => new(SkipKind.Dense, SkipKind.Diagonal, SkipKind.None);

    [Theory]
    [MemberData(nameof(SkipKinds))]
    public void Every_skip_kind_learns_separable_blobs(SkipKind skip)
    {
        var result = Trainer.Train(new NetworkShape(Blobs.D, 8, 8, Blobs.Classes, skip), Train, Validation, Options);
        Assert.Equal(StopReason.Completed, result.Stop);
        Assert.True(result.History[^1].ValidationAccuracy >= LearnedAccuracy, $"validation accuracy {result.History[^1].ValidationAccuracy}");
        Assert.True(result.History[^1].TrainLoss < result.History[0].TrainLoss,
            $"train loss rose from {result.History[0].TrainLoss} to {result.History[^1].TrainLoss}");
    }

    [Theory]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.AdamW)]
    public void Other_optimizers_learn_separable_blobs(OptimizerKind kind)
    {
        var options = Options with { Optimizer = new() { Kind = kind, LearningRate = 0.05f, Momentum = kind == OptimizerKind.Sgd ? 0.9f : 0f, WeightDecay = 1e-3f } };
        var result = Trainer.Train(Shape, Train, Validation, options);
        Assert.True(result.History[^1].ValidationAccuracy >= LearnedAccuracy, $"validation accuracy {result.History[^1].ValidationAccuracy}");
    }

    [Fact]
    public void The_same_seed_gives_bit_identical_runs()
    {
        var (first, second) = (Trainer.Train(Shape, Train, Validation, Options), Trainer.Train(Shape, Train, Validation, Options));
        AssertBitIdentical(first, second);
    }

    [Fact]
    public void Two_threads_give_the_same_bits_as_one()
    {
        var (one, two) = (Trainer.Train(Shape, Train, Validation, Options), Trainer.Train(Shape, Train, Validation, Options with { Threads = 2 }));
        AssertBitIdentical(one, two);
    }

    [Fact]
    public void A_different_seed_gives_different_parameters()
    {
        var (first, second) = (Trainer.Train(Shape, Train, Validation, Options), Trainer.Train(Shape, Train, Validation, Options with { Seed = 4 }));
        Assert.NotEqual(Bits(first.Parameters), Bits(second.Parameters));
        Assert.NotEqual(first.History[0].TrainLoss, second.History[0].TrainLoss);
    }

    [Fact]
    public void OnEpoch_is_called_once_per_epoch_with_that_epochs_metrics()
    {
        var seen = new List<EpochMetrics>();
        var result = Trainer.Train(Shape, Train, Validation, Options, (metrics, _) => seen.Add(metrics));
        Assert.Equal(Enumerable.Range(1, Options.Epochs), seen.Select(m => m.Epoch));
        Assert.Equal(result.History, seen);
    }

    [Fact]
    public void Without_validation_the_last_epoch_is_kept()
    {
        float[]? last = null;
        var result = Trainer.Train(Shape, Train, null, Options, (_, checkpoint) => last = checkpoint.Parameters);
        Assert.Equal((StopReason.Completed, Options.Epochs, Options.Epochs), (result.Stop, result.StopEpoch, result.KeptEpoch));
        Assert.Equal(Bits(last!), Bits(result.Parameters));
        Assert.All(result.History, m => Assert.Null(m.ValidationLoss));
    }

    [Fact]
    public void The_history_reports_each_epochs_scheduled_learning_rate()
    {
        // Step decay halving every epoch: the last step of epoch e runs at lr·2^−(e−1).
        var options = Options with { Epochs = 4, Schedule = new() { Kind = ScheduleKind.Step, StepEpochs = 1, StepFactor = 0.5f } };
        var result = Trainer.Train(Shape, Train, null, options);
        var lr = (double)options.Optimizer.LearningRate;
        Assert.Equal([lr, lr / 2, lr / 4, lr / 8], result.History.Select(m => m.LearningRate));
    }

    [Fact]
    public void A_batch_larger_than_the_data_is_clamped_to_one_full_batch()
    {
        // TrainingOptions.BatchSize: "a batch larger than the training data is clamped to it".
        var small = Blobs.Draw(60, seed: 6);
        var clamped = Trainer.Train(Shape, small, Validation, Options with { BatchSize = 1000, Epochs = 40 });
        var exact = Trainer.Train(Shape, small, Validation, Options with { BatchSize = small.Rows, Epochs = 40 });
        AssertBitIdentical(exact, clamped);
        Assert.True(clamped.History[^1].ValidationAccuracy >= LearnedAccuracy, $"validation accuracy {clamped.History[^1].ValidationAccuracy}");
    }

    [Fact]
    public void Exploding_inputs_diverge_in_the_first_epoch_and_return_the_initial_weights()
    {
        // Inputs ×1000 reach the logits through the identity skip; SGD at lr 10 overflows at once.
        var huge = Blobs.Draw(300, seed: 1, scale: 1e3);
        var options = Options with { Optimizer = new() { Kind = OptimizerKind.Sgd, LearningRate = 10f } };
        var result = Trainer.Train(Shape, huge, null, options);
        Assert.Equal((StopReason.Diverged, 1, 0), (result.Stop, result.StopEpoch, result.KeptEpoch));
        Assert.Empty(result.History);
        var initial = new float[new ParameterLayout(Shape).Count];
        Initialization.Initialize(new ParameterLayout(Shape), initial, options.Seed);
        Assert.Equal(Bits(initial), Bits(result.Parameters));
    }

    [Fact]
    public void A_run_that_diverges_later_keeps_the_last_finite_epoch()
    {
        // SGD warming up to lr 10 over nine epochs trains for a few epochs, then overflows (at epoch
        // 4 today; the test does not depend on which).
        var options = Options with
        {
            Optimizer = new() { Kind = OptimizerKind.Sgd, LearningRate = 10f },
            Schedule = new() { WarmupEpochs = 9 },
        };
        var snapshots = new List<float[]>();
        var result = Trainer.Train(Shape, Train, null, options, (_, checkpoint) => snapshots.Add(checkpoint.Parameters));
        Assert.Equal(StopReason.Diverged, result.Stop);
        Assert.InRange(result.StopEpoch, 2, options.Epochs);
        Assert.Equal(result.StopEpoch - 1, result.KeptEpoch);
        Assert.Equal(result.KeptEpoch, result.History.Count);
        Assert.All(result.Parameters, p => Assert.True(float.IsFinite(p)));
        Assert.Equal(Bits(snapshots[^1]), Bits(result.Parameters));
    }

    [Fact]
    public void Early_stopping_keeps_the_best_validation_epoch()
    {
        // 60 rows of barely separated blobs with 30% random labels and a wide network: the
        // validation loss bottoms out within a few epochs and then rises as the network memorizes.
        var (train, validation) = (Blobs.Draw(60, seed: 4, separation: 1.5, noisyLabels: 0.3), Blobs.Draw(200, seed: 5, separation: 1.5, noisyLabels: 0.3));
        var options = Options with { Epochs = 300, BatchSize = 8, Patience = 5 };
        var snapshots = new List<float[]>();
        var result = Trainer.Train(new NetworkShape(Blobs.D, 32, 32, Blobs.Classes), train, validation, options,
            (_, checkpoint) => snapshots.Add(checkpoint.Parameters));
        Assert.Equal(StopReason.EarlyStopped, result.Stop);
        Assert.True(result.StopEpoch < options.Epochs, $"stopped at {result.StopEpoch}");
        Assert.Equal(options.Patience, result.StopEpoch - result.KeptEpoch);
        Assert.Equal(result.StopEpoch, result.History.Count);
        var best = result.History.MinBy(m => m.ValidationLoss)!;
        Assert.Equal(best.Epoch, result.KeptEpoch);
        Assert.Equal(Bits(snapshots[result.KeptEpoch - 1]), Bits(result.Parameters));
    }

    [Fact]
    public void The_accuracy_rule_keeps_the_first_epoch_of_highest_validation_accuracy()
    {
        // The same noisy problem: accuracy and loss peak at different epochs, so the rules disagree.
        var (train, validation) = (Blobs.Draw(60, seed: 4, separation: 1.5, noisyLabels: 0.3), Blobs.Draw(200, seed: 5, separation: 1.5, noisyLabels: 0.3));
        var options = Options with { Epochs = 40, BatchSize = 8 };
        var shape = new NetworkShape(Blobs.D, 32, 32, Blobs.Classes);
        var snapshots = new List<float[]>();
        var result = Trainer.Train(shape, train, validation, options with { Keep = KeepRule.HighestValidationAccuracy },
            (_, checkpoint) => snapshots.Add(checkpoint.Parameters));
        var best = result.History.First(m => m.ValidationAccuracy == result.History.Max(h => h.ValidationAccuracy));
        Assert.Equal(best.Epoch, result.KeptEpoch);
        Assert.Equal(Bits(snapshots[result.KeptEpoch - 1]), Bits(result.Parameters));
        var byLoss = Trainer.Train(shape, train, validation, options);
        Assert.Equal(result.History.Select(MetricBits), byLoss.History.Select(MetricBits));
        Assert.NotEqual(byLoss.KeptEpoch, result.KeptEpoch);
    }

    [Fact]
    public void Patience_waits_on_the_keep_rules_figure()
    {
        var (train, validation) = (Blobs.Draw(60, seed: 4, separation: 1.5, noisyLabels: 0.3), Blobs.Draw(200, seed: 5, separation: 1.5, noisyLabels: 0.3));
        var options = Options with { Epochs = 300, BatchSize = 8, Patience = 5, Keep = KeepRule.HighestValidationAccuracy };
        var result = Trainer.Train(new NetworkShape(Blobs.D, 32, 32, Blobs.Classes), train, validation, options);
        Assert.Equal(StopReason.EarlyStopped, result.Stop);
        Assert.Equal(options.Patience, result.StopEpoch - result.KeptEpoch);
        Assert.All(result.History.Skip(result.KeptEpoch), m => Assert.True(m.ValidationAccuracy <= result.History[result.KeptEpoch - 1].ValidationAccuracy));
    }

    private static void AssertBitIdentical(TrainingResult expected, TrainingResult actual)
    {
        Assert.Equal(Bits(expected.Parameters), Bits(actual.Parameters));
        Assert.Equal((expected.Stop, expected.StopEpoch, expected.KeptEpoch), (actual.Stop, actual.StopEpoch, actual.KeptEpoch));
        Assert.Equal(expected.History.Select(MetricBits), actual.History.Select(MetricBits));
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();

    private static string MetricBits(EpochMetrics m) =>
        string.Join(' ', new double?[] { m.TrainLoss, m.TrainAccuracy, m.ValidationLoss, m.ValidationAccuracy, m.LearningRate }
            .Select(v => v is { } d ? BitConverter.DoubleToInt64Bits(d).ToString("X16", System.Globalization.CultureInfo.InvariantCulture) : "null"));
}
