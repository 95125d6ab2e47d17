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
    /// <param name="onEpoch">called after every epoch with its metrics and a checkpoint to resume from</param>
    /// <param name="resume">a checkpoint of an earlier run with the same shape, data and options, to continue it</param>
    public static TrainingResult Train(NetworkShape shape, LabeledData train, LabeledData? validation, TrainingOptions options,
        Action<EpochMetrics, TrainingCheckpoint>? onEpoch = null, TrainingCheckpoint? resume = null)
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
        if (resume is not null) run.Restore(resume);
        return run.Execute(validation, onEpoch);
    }

    private sealed class Run(Network network, Optimizer optimizer, Batches batches, TrainingOptions options)
    {
        private readonly List<EpochMetrics> _history = [];
        private readonly float[] _kept = (float[])network.Parameters.Clone();
        private int _keptEpoch;
        private double _bestValidationLoss = double.PositiveInfinity;
        private int _firstEpoch = 1;

        public void Restore(TrainingCheckpoint c)
        {
            RequireLength(c.Parameters, network.Parameters.Length, nameof(c.Parameters));
            RequireLength(c.Kept, network.Parameters.Length, nameof(c.Kept));
            RequireLength(c.OptimizerFirst, optimizer.First.Length, nameof(c.OptimizerFirst));
            RequireLength(c.OptimizerSecond, optimizer.Second.Length, nameof(c.OptimizerSecond));
            if (c.Epoch < 0 || c.Epoch > options.Epochs || c.History.Count != c.Epoch)
                throw new ArgumentException($"resume: expected a checkpoint after epoch 0 to {options.Epochs} with one history entry per epoch, found epoch {c.Epoch} with {c.History.Count} entries", "resume");
            c.Parameters.CopyTo(network.Parameters, 0);
            c.OptimizerFirst.CopyTo(optimizer.First, 0);
            c.OptimizerSecond.CopyTo(optimizer.Second, 0);
            optimizer.Steps = c.OptimizerSteps;
            c.Kept.CopyTo(_kept, 0);
            (_keptEpoch, _bestValidationLoss, _firstEpoch) = (c.KeptEpoch, c.BestValidationLoss, c.Epoch + 1);
            _history.AddRange(c.History);
        }

        public TrainingResult Execute(LabeledData? validation, Action<EpochMetrics, TrainingCheckpoint>? onEpoch)
        {
            if (options.Patience is { } alreadyPatient && _firstEpoch > 1 && _firstEpoch - 1 - _keptEpoch >= alreadyPatient)
                return Finish(StopReason.EarlyStopped, _firstEpoch - 1);
            for (var epoch = _firstEpoch; epoch <= options.Epochs; epoch++)
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
                onEpoch?.Invoke(metrics, Checkpoint(epoch));
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

        private TrainingCheckpoint Checkpoint(int epoch) => new(
            epoch, (float[])network.Parameters.Clone(), (float[])optimizer.First.Clone(), (float[])optimizer.Second.Clone(),
            optimizer.Steps, (float[])_kept.Clone(), _keptEpoch, _bestValidationLoss, [.. _history]);

        private static void RequireLength(float[] values, int expected, string name)
        {
            if (values.Length != expected)
                throw new ArgumentException($"resume.{name}: expected {expected} values for this shape and optimizer, found {values.Length}", "resume");
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
