using Hybrid.Engine.Model;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>The stepper takes Trainer's steps, one at a time, and allocates nothing once warmed up.</summary>
public class StepperTests
{
    private const int Rows = 300;
    private const int Batch = 16;

    private static readonly NetworkShape Shape = new(Blobs.D, 8, 8, Blobs.Classes);
    private static readonly LabeledData Train = Blobs.Draw(Rows, seed: 1);
    private static readonly int StepsPerEpoch = (Rows + Batch - 1) / Batch;

    private static readonly Dictionary<string, OptimizerSettings> Optimizers = new()
    {
        ["SGD"] = new() { Kind = OptimizerKind.Sgd, LearningRate = 0.05f },
        ["SGD Nesterov, weight decay"] = new() { Kind = OptimizerKind.Sgd, LearningRate = 0.05f, Momentum = 0.9f, Nesterov = true, WeightDecay = 1e-3f },
        ["AdamW"] = new() { Kind = OptimizerKind.AdamW, LearningRate = 0.01f, WeightDecay = 1e-2f },
    };

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var optimizer in Optimizers.Keys)
            foreach (var threads in new[] { 1, 2 })
                data.Add(optimizer, threads);
        return data;
    }

    private static TrainingOptions Options(string optimizer, int threads, int epochs) => new()
    {
        Epochs = epochs,
        BatchSize = Batch,
        Seed = 3,
        Threads = threads,
        Optimizer = Optimizers[optimizer],
        Schedule = new() { Kind = ScheduleKind.Cosine, WarmupEpochs = epochs - 1 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_warmed_up_step_allocates_nothing_across_an_epoch_boundary(string optimizer, int threads)
    {
        using var stepper = new Stepper(Shape, Train, Options(optimizer, threads, epochs: 3));
        for (var i = 0; i < StepsPerEpoch; i++) stepper.Step();

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < StepsPerEpoch + 2; i++) stepper.Step();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated == 0, $"{StepsPerEpoch + 2} steps with {optimizer} on {threads} thread(s) allocated {allocated} bytes");
        Assert.Equal(3, stepper.Epoch);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void One_epoch_of_steps_gives_the_bits_of_Trainer(string optimizer, int threads) =>
        AssertSameAsTrainer(optimizer, threads, epochs: 1);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Two_epochs_of_steps_give_the_bits_of_Trainer(string optimizer, int threads) =>
        AssertSameAsTrainer(optimizer, threads, epochs: 2);

    [Fact]
    public void Inference_gives_the_probabilities_of_a_forward_pass()
    {
        using var stepper = new Stepper(Shape, Train, Options("SGD", 1, epochs: 1));
        stepper.Step();
        var x = Train.Features.AsSpan(0, 5 * Blobs.D);
        var inferred = stepper.Infer(x, 5).ToArray();
        var expected = Evaluation.PredictProbabilities(stepper.Network, x.ToArray(), 5);
        Assert.Equal(expected, inferred);
    }

    private static void AssertSameAsTrainer(string optimizer, int threads, int epochs)
    {
        var options = Options(optimizer, threads, epochs);
        var trained = Trainer.Train(Shape, Train, null, options);
        using var stepper = new Stepper(Shape, Train, options);
        for (var i = 0; i < epochs * StepsPerEpoch; i++) stepper.Step();

        Assert.Equal(StopReason.Completed, trained.Stop);
        var mismatch = Enumerable.Range(0, trained.Parameters.Length)
            .FirstOrDefault(i => BitConverter.SingleToInt32Bits(trained.Parameters[i]) != BitConverter.SingleToInt32Bits(stepper.Network.Parameters[i]), -1);
        Assert.True(mismatch < 0, $"parameter {mismatch} differs: Trainer {(mismatch < 0 ? 0 : trained.Parameters[mismatch])}, Stepper {(mismatch < 0 ? 0 : stepper.Network.Parameters[mismatch])}");
    }
}
