using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Training;

/// <summary>
/// The epoch loop: shuffled mini-batches, one optimizer step each, validation after every epoch,
/// early stopping, and a stop on divergence that keeps the last finite weights. Returns metrics;
/// never prints.
/// </summary>
public static class Trainer
{
    /// <param name="onEpoch">called after every epoch, e.g. to report progress or save a checkpoint</param>
    public static TrainingResult Train(NetworkShape shape, LabeledData train, LabeledData? validation, TrainingOptions options,
        Action<EpochMetrics, float[]>? onEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        options.Check();
        train.Check(shape, nameof(train));
        validation?.Check(shape, nameof(validation));
        if (options.Patience is not null && validation is null)
            throw new ArgumentException("validation: early stopping (Patience) needs validation data, found none", nameof(validation));

        using var kernels = KernelSet.Fast(options.Threads);
        var batches = new Batches(train, options.BatchSize, options.Seed);
        var network = new Network(shape, kernels, batches.BatchSize, Optimizer.CoupledDecay(options.Optimizer));
        Initialization.Initialize(network.Layout, network.Parameters, options.Seed);
        var run = new Run(network, new Optimizer(options.Optimizer, network.Layout, kernels.Elementwise), batches, options);
        return run.Execute(validation, onEpoch);
    }

    private sealed class Run(Network network, Optimizer optimizer, Batches batches, TrainingOptions options)
    {
        private readonly List<EpochMetrics> _history = [];
        private readonly float[] _kept = (float[])network.Parameters.Clone();
        private int _keptEpoch;
        private double _bestValidationLoss = double.PositiveInfinity;

        public TrainingResult Execute(LabeledData? validation, Action<EpochMetrics, float[]>? onEpoch)
        {
            for (var epoch = 1; epoch <= options.Epochs; epoch++)
            {
                var (trainLoss, trainAccuracy, learningRate) = TrainEpoch(epoch);
                if (!double.IsFinite(trainLoss) || !AllFinite(network.Parameters))
                    return Finish(StopReason.Diverged, epoch);
                var (validationLoss, validationAccuracy) = validation is null
                    ? ((double?)null, (double?)null)
                    : Evaluation.Evaluate(network, validation);
                var metrics = new EpochMetrics(epoch, trainLoss, trainAccuracy, validationLoss, validationAccuracy, learningRate);
                _history.Add(metrics);
                Keep(epoch, validationLoss);
                onEpoch?.Invoke(metrics, network.Parameters);
                if (options.Patience is { } patience && epoch - _keptEpoch >= patience)
                    return Finish(StopReason.EarlyStopped, epoch);
            }
            return Finish(StopReason.Completed, options.Epochs);
        }

        private (double Loss, double Accuracy, double LearningRate) TrainEpoch(int epoch)
        {
            batches.Shuffle(epoch);
            var (lossSum, correct, rowsSeen, learningRate) = (0.0, 0, 0, 0.0);
            for (var i = 0; i < batches.PerEpoch; i++)
            {
                var rows = batches.Gather(i);
                var x = batches.X.AsSpan(0, rows * network.Shape.D);
                var labels = batches.Labels.AsSpan(0, rows);
                var loss = network.ForwardUnchecked(x, labels, rows);
                if (!double.IsFinite(loss)) return (loss, 0, learningRate);
                lossSum += loss * rows;
                correct += Evaluation.CountCorrect(network.Probabilities(rows), labels, network.Shape.P);
                rowsSeen += rows;
                network.ZeroGradients();
                network.BackwardUnchecked(x, labels, [], rows);
                learningRate = LearningRate(epoch, i);
                optimizer.Update(network.Parameters, network.Gradients, (float)learningRate);
            }
            return (lossSum / rowsSeen, correct / (double)rowsSeen, learningRate);
        }

        private double LearningRate(int epoch, int batch)
        {
            var step = (long)(epoch - 1) * batches.PerEpoch + batch;
            return options.Optimizer.LearningRate * options.Schedule.Factor(step, batches.PerEpoch, options.Epochs);
        }

        // Without validation every finite epoch is kept; with it, only an epoch that lowers the validation loss.
        private void Keep(int epoch, double? validationLoss)
        {
            if (validationLoss is { } loss)
            {
                if (!(loss < _bestValidationLoss)) return;
                _bestValidationLoss = loss;
            }
            network.Parameters.CopyTo(_kept, 0);
            _keptEpoch = epoch;
        }

        private TrainingResult Finish(StopReason reason, int epoch) =>
            new((float[])_kept.Clone(), _history, reason, epoch, _keptEpoch);

        private static bool AllFinite(float[] values)
        {
            foreach (var v in values)
                if (!float.IsFinite(v)) return false;
            return true;
        }
    }
}
