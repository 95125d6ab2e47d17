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

        using var stepper = Stepper.Unchecked(shape, train, options);
        var run = new Run(stepper, options);
        if (resume is not null) run.Restore(resume);
        return run.Execute(validation, onEpoch);
    }

    private sealed class Run(Stepper stepper, TrainingOptions options)
    {
        private readonly Network _network = stepper.Network;
        private readonly Optimizer _optimizer = stepper.Optimizer;
        private readonly List<EpochMetrics> _history = [];
        private readonly float[] _kept = (float[])stepper.Network.Parameters.Clone();
        private int _keptEpoch;
        private double _bestValidationLoss = double.PositiveInfinity;
        private int _firstEpoch = 1;

        public void Restore(TrainingCheckpoint c)
        {
            RequireLength(c.Parameters, _network.Parameters.Length, nameof(c.Parameters));
            RequireLength(c.Kept, _network.Parameters.Length, nameof(c.Kept));
            RequireLength(c.OptimizerFirst, _optimizer.First.Length, nameof(c.OptimizerFirst));
            RequireLength(c.OptimizerSecond, _optimizer.Second.Length, nameof(c.OptimizerSecond));
            if (c.Epoch < 0 || c.Epoch > options.Epochs || c.History.Count != c.Epoch)
                throw new ArgumentException($"resume: expected a checkpoint after epoch 0 to {options.Epochs} with one history entry per epoch, found epoch {c.Epoch} with {c.History.Count} entries", "resume");
            c.Parameters.CopyTo(_network.Parameters, 0);
            c.OptimizerFirst.CopyTo(_optimizer.First, 0);
            c.OptimizerSecond.CopyTo(_optimizer.Second, 0);
            _optimizer.Steps = c.OptimizerSteps;
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
                if (!double.IsFinite(trainLoss) || !AllFinite(_network.Parameters))
                    return Finish(StopReason.Diverged, epoch);
                var (validationLoss, validationAccuracy) = validation is null
                    ? ((double?)null, (double?)null)
                    : Evaluation.Evaluate(_network, validation);
                var metrics = new EpochMetrics(epoch, trainLoss, trainAccuracy, validationLoss, validationAccuracy, learningRate);
                _history.Add(metrics);
                Keep(metrics);
                onEpoch?.Invoke(metrics, Checkpoint(epoch));
                if (options.Patience is { } patience && epoch - _keptEpoch >= patience)
                    return Finish(StopReason.EarlyStopped, epoch);
            }
            return Finish(StopReason.Completed, options.Epochs);
        }

        private (double Loss, double Accuracy, double LearningRate) TrainEpoch(int epoch)
        {
            stepper.Batches.Shuffle(epoch);
            var (lossSum, correct, rowsSeen, learningRate) = (0.0, 0, 0, 0.0);
            for (var i = 0; i < stepper.Batches.PerEpoch; i++)
            {
                var step = stepper.TrainBatch(epoch, i);
                if (!double.IsFinite(step.Loss)) return (step.Loss, 0, learningRate);
                lossSum += step.Loss * step.Rows;
                correct += step.Correct;
                rowsSeen += step.Rows;
                learningRate = step.LearningRate;
            }
            return (lossSum / rowsSeen, correct / (double)rowsSeen, learningRate);
        }

        // Without validation every finite epoch is kept; with it, only an epoch better under the keep rule.
        private void Keep(EpochMetrics epoch)
        {
            if (epoch.ValidationLoss is { } loss && epoch.ValidationAccuracy is { } accuracy)
            {
                if (!Improves(loss, accuracy)) return;
                _bestValidationLoss = loss;
            }
            _network.Parameters.CopyTo(_kept, 0);
            _keptEpoch = epoch.Epoch;
        }

        // The kept epoch's figures come from the history, so a resumed run compares as the straight one did.
        private bool Improves(double loss, double accuracy) => options.Keep switch
        {
            KeepRule.HighestValidationAccuracy =>
                _keptEpoch == 0 || accuracy > _history[_keptEpoch - 1].ValidationAccuracy,
            _ => loss < _bestValidationLoss,
        };

        private TrainingCheckpoint Checkpoint(int epoch) => new(
            epoch, (float[])_network.Parameters.Clone(), (float[])_optimizer.First.Clone(), (float[])_optimizer.Second.Clone(),
            _optimizer.Steps, (float[])_kept.Clone(), _keptEpoch, _bestValidationLoss, [.. _history]);

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
