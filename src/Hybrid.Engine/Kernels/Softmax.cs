using System.Runtime.CompilerServices;
namespace Hybrid.Engine.Kernels;

/// <summary>The per-row cross-entropy pieces both softmax kernels share.</summary>
internal static class Softmax
{
    /// <summary>
    /// −log softmax[label] = log Σ e^(a − max) − (a_label − max). Taken from the shifted logits, never
    /// as −log p, so a probability that underflows to 0 (logits of ±1000) still gives a finite loss.
    /// </summary>
    public static double RowLoss(float sumOfShiftedExps, float shiftedLabelLogit) =>
        Math.Log(sumOfShiftedExps) - shiftedLabelLogit;

    // dLogits += (p − onehot)·scale, row by row. P is the class count (small), so this stays scalar
    // in both kernel sets: there is nothing for a vector to win.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Backward(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, Span<float> dLogits, int rows, float scale)
    {
        Shapes.Require(labels, rows, nameof(labels));
        var p = rows == 0 ? 0 : probabilities.Length / rows;
        Shapes.Require(dLogits, rows * p, nameof(dLogits));
        for (var r = 0; r < rows; r++)
        {
            var label = RequireLabel(labels[r], p, r);
            for (var j = 0; j < p; j++)
                dLogits[r * p + j] += (probabilities[r * p + j] - (j == label ? 1f : 0f)) * scale;
        }
    }

    public static int RequireLabel(int label, int classes, int row)
    {
        if ((uint)label >= (uint)classes)
            throw new ArgumentException($"labels[{row}]: expected a class in [0, {classes}), found {label}", "labels");
        return label;
    }
}
