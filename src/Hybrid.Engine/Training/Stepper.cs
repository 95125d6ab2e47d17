using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Training;

/// <summary>
/// One training step at a time, the same step <see cref="Trainer"/> takes: gather the next shuffled
/// mini-batch, forward, zero the gradients, backward, optimizer update. Owns its kernels, network,
/// optimizer and batches, so a warmed-up <see cref="Step"/> allocates nothing. After the last batch of
/// an epoch the next step starts the next epoch's shuffle; the learning rate follows
/// <see cref="TrainingOptions.Schedule"/> as if the run lasted <see cref="TrainingOptions.Epochs"/> epochs.
/// </summary>
public sealed class Stepper : IDisposable
{
    private readonly KernelSet _kernels;
    private readonly TrainingOptions _options;
    private int _batch;

    public Stepper(NetworkShape shape, LabeledData train, TrainingOptions options)
        : this(Checked(shape, train, options), train, options, KernelSet.Fast(options.Threads))
    {
    }

    private Stepper(NetworkShape shape, LabeledData train, TrainingOptions options, KernelSet kernels)
    {
        _options = options;
        _kernels = kernels;
        Batches = new Batches(train, options.BatchSize, options.Seed);
        Network = new Network(shape, _kernels, Batches.BatchSize, Optimizer.CoupledDecay(options.Optimizer));
        Initialization.Initialize(Network.Layout, Network.Parameters, options.Seed);
        Optimizer = new Optimizer(options.Optimizer, Network.Layout, _kernels.Elementwise);
    }

    /// <summary>For callers that have checked the shape, data and options themselves.</summary>
    internal static Stepper Unchecked(NetworkShape shape, LabeledData train, TrainingOptions options) =>
        new(shape, train, options, KernelSet.Fast(options.Threads));

    /// <summary>The network being trained; its parameters change with every step.</summary>
    public Network Network { get; }

    /// <summary>The epoch the next <see cref="Step"/> belongs to, from 1.</summary>
    public int Epoch { get; private set; } = 1;

    /// <summary>Rows in a full mini-batch (the batch size, clamped to the training data).</summary>
    public int BatchSize => Batches.BatchSize;

    internal Optimizer Optimizer { get; }

    internal Batches Batches { get; }

    /// <summary>Trains on the next mini-batch of the current epoch's shuffle (a batch whose loss is not finite updates nothing).</summary>
    public void Step()
    {
        if (_batch == 0) Batches.Shuffle(Epoch);
        TrainBatch(Epoch, _batch);
        if (++_batch == Batches.PerEpoch) (_batch, Epoch) = (0, Epoch + 1);
    }

    // x: (rows, D), rows ≤ BatchSize  →  (rows, P) class probabilities, valid until the next call
    public ReadOnlySpan<float> Infer(ReadOnlySpan<float> x, int rows)
    {
        InputChecks.Batch(x, [], rows, Network.Shape, Network.Capacity);
        Network.ForwardUnchecked(x, [], rows);
        return Network.Probabilities(rows);
    }

    /// <summary>
    /// One step on batch <paramref name="index"/> of the current shuffle. On a non-finite loss it
    /// stops after the forward pass (no update) and returns that loss.
    /// </summary>
    internal BatchOutcome TrainBatch(int epoch, int index)
    {
        var rows = Batches.Gather(index, _kernels.Elementwise);
        var x = Batches.X.AsSpan(0, rows * Network.Shape.D);
        var labels = Batches.Labels.AsSpan(0, rows);
        var loss = Network.ForwardUnchecked(x, labels, rows);
        if (!double.IsFinite(loss)) return new(loss, rows, 0, double.NaN);
        var correct = Evaluation.CountCorrect(Network.Probabilities(rows), labels, Network.Shape.P);
        // Overwriting the gradients saves a pass clearing all of them (1.3 MB for the MNIST shape).
        Network.BackwardUnchecked(x, labels, [], rows, accumulate: false);
        var learningRate = LearningRate(epoch, index);
        Optimizer.Update(Network.Parameters, Network.Gradients, (float)learningRate);
        return new(loss, rows, correct, learningRate);
    }

    public void Dispose() => _kernels.Dispose();

    private double LearningRate(int epoch, int batch)
    {
        var step = (long)(epoch - 1) * Batches.PerEpoch + batch;
        return _options.Optimizer.LearningRate * _options.Schedule.Factor(step, Batches.PerEpoch, _options.Epochs);
    }

    private static NetworkShape Checked(NetworkShape shape, LabeledData train, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        options.Check();
        train.Check(shape, nameof(train));
        return shape;
    }
}

/// <summary>What one training step saw: the batch's mean loss, its rows, how many it classified right, and the rate used.</summary>
internal readonly record struct BatchOutcome(double Loss, int Rows, int Correct, double LearningRate);
