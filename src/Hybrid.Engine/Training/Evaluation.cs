using System.Runtime.CompilerServices;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Training;

/// <summary>Loss, accuracy and predictions of a network over a whole data set, batch by batch.</summary>
public static class Evaluation
{
    /// <summary>Mean cross-entropy and accuracy over every row, in row order.</summary>
    public static (double Loss, double Accuracy) Evaluate(Network network, LabeledData data)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        data.Check(network.Shape, nameof(data));
        var (loss, correct) = (0.0, 0);
        var d = data.Columns;
        for (var start = 0; start < data.Rows; start += network.Capacity)
        {
            var rows = Math.Min(network.Capacity, data.Rows - start);
            var labels = data.Labels.AsSpan(start, rows);
            loss += network.ForwardUnchecked(data.Features.AsSpan(start * d, rows * d), labels, rows) * rows;
            correct += CountCorrect(network.Probabilities(rows), labels, network.Shape.P);
        }
        return (loss / data.Rows, correct / (double)data.Rows);
    }

    /// <summary>x: (rows, D)  →  (rows, P) class probabilities.</summary>
    public static float[] PredictProbabilities(Network network, float[] features, int rows)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(features);
        var (d, p) = (network.Shape.D, network.Shape.P);
        InputChecks.Length(features.Length, rows * d, nameof(features));
        InputChecks.Finite(features, nameof(features), d);
        var probabilities = new float[rows * p];
        for (var start = 0; start < rows; start += network.Capacity)
        {
            var batch = Math.Min(network.Capacity, rows - start);
            network.ForwardUnchecked(features.AsSpan(start * d, batch * d), [], batch);
            network.Probabilities(batch).CopyTo(probabilities.AsSpan(start * p, batch * p));
        }
        return probabilities;
    }

    /// <summary>How many rows' most probable class (the first, on a tie) equals the label.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int CountCorrect(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, int classes)
    {
        var correct = 0;
        for (var r = 0; r < labels.Length; r++)
            if (ArgMax(probabilities.Slice(r * classes, classes)) == labels[r]) correct++;
        return correct;
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var j = 1; j < row.Length; j++)
            if (row[j] > row[best]) best = j;
        return best;
    }
}
