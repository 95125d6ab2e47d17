using Hybrid.Engine.Kernels;
using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Training;

/// <summary>
/// A training step (forward, zero the gradients, backward, optimizer update) allocates nothing
/// once warmed up: the workspace, gradients and optimizer state are all sized up front.
/// </summary>
public class AllocationTests
{
    private const int Batch = 16;
    private const int WarmupSteps = 3;
    private const int MeasuredSteps = 5;

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
        var settings = Optimizers[optimizer];
        var shape = new NetworkShape(6, 10, 9, 3, skip);
        using var kernels = KernelSet.Fast(1);
        var network = new Network(shape, kernels, Batch, Optimizer.CoupledDecay(settings));
        Initialization.Initialize(network.Layout, network.Parameters, seed: 1);
        var sgd = new Optimizer(settings, network.Layout, kernels.Elementwise);
        var rng = new Rng(2);
        var x = Enumerable.Range(0, Batch * shape.D).Select(_ => (float)rng.NextGaussian()).ToArray();
        var labels = Enumerable.Range(0, Batch).Select(_ => rng.NextInt(shape.P)).ToArray();

        for (var i = 0; i < WarmupSteps; i++) Step(network, sgd, x, labels);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < MeasuredSteps; i++) Step(network, sgd, x, labels);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated == 0, $"{MeasuredSteps} steps with {optimizer} on a {skip} skip allocated {allocated} bytes");
    }

    private static void Step(Network network, Optimizer optimizer, float[] x, int[] labels)
    {
        network.ForwardUnchecked(x, labels, Batch);
        network.ZeroGradients();
        network.BackwardUnchecked(x, labels, [], Batch);
        optimizer.Update(network.Parameters, network.Gradients, 0.01f);
    }
}
