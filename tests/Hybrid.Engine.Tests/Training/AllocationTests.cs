using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>
/// The step the trainer takes (<see cref="Stepper"/>: gather the next shuffled mini-batch, forward,
/// backward overwriting the gradients, optimizer update, a new shuffle at each epoch's start)
/// allocates nothing once warmed up: batches, workspace, gradients and optimizer state are all sized up front.
/// </summary>
public class AllocationTests
{
    private const int Batch = 16;
    // Three full batches and a short one, so that both sizes of step are measured.
    private const int Rows = 3 * Batch + 5;
    private const int WarmupEpochs = 2;
    private const int MeasuredEpochs = 2;

    private static readonly Dictionary<string, OptimizerSettings> Optimizers = new()
    {
        ["SGD"] = new() { Kind = OptimizerKind.Sgd, LearningRate = 0.05f },
        ["SGD Nesterov, weight decay"] = new() { Kind = OptimizerKind.Sgd, LearningRate = 0.05f, Momentum = 0.9f, Nesterov = true, WeightDecay = 1e-3f },
        ["Adam"] = new() { Kind = OptimizerKind.Adam, LearningRate = 0.01f },
        ["AdamW"] = new() { Kind = OptimizerKind.AdamW, LearningRate = 0.01f, WeightDecay = 1e-2f },
    };

    public static TheoryData<SkipKind, string> Cases()
    {
        var data = new TheoryData<SkipKind, string>();
        foreach (var skip in new[] { SkipKind.Dense, SkipKind.Diagonal, SkipKind.None })
            foreach (var optimizer in Optimizers.Keys)
                data.Add(skip, optimizer);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_warmed_up_training_step_allocates_nothing(SkipKind skip, string optimizer)
    {
        var shape = new NetworkShape(6, 10, 9, 3, skip);
        var options = new TrainingOptions
        {
            Epochs = WarmupEpochs + MeasuredEpochs, BatchSize = Batch, Threads = 1, Seed = 1, Optimizer = Optimizers[optimizer],
        };
        using var stepper = new Stepper(shape, RandomData(shape), options);

        while (stepper.Epoch <= WarmupEpochs) stepper.Step();
        var (steps, before) = (0, GC.GetAllocatedBytesForCurrentThread());
        for (; stepper.Epoch <= WarmupEpochs + MeasuredEpochs; steps++) stepper.Step();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated == 0, $"{steps} steps with {optimizer} on a {skip} skip allocated {allocated} bytes");
    }

    private static LabeledData RandomData(NetworkShape shape)
    {
        var rng = new Rng(2);
        var features = Enumerable.Range(0, Rows * shape.D).Select(_ => (float)rng.NextGaussian()).ToArray();
        var labels = Enumerable.Range(0, Rows).Select(_ => rng.NextInt(shape.P)).ToArray();
        return new LabeledData(features, labels, shape.D);
    }
}
