using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>The element-wise kernels on SIMD vectors, through the one dispatch loop in <see cref="Vectorized"/>.</summary>
public sealed class FastElementwise : IElementwiseKernels
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BiasTanh(ReadOnlySpan<float> a, ReadOnlySpan<float> bias, Span<float> z, int rows)
    {
        var n = bias.Length;
        Shapes.Require(a, rows * n, nameof(a));
        Shapes.Require(z, rows * n, nameof(z));
        for (var r = 0; r < rows; r++)
            Vectorized.Map(new TanhOfSum(), a.Slice(r * n, n), bias, z.Slice(r * n, n));
    }

    public void TanhBackward(ReadOnlySpan<float> dZ, ReadOnlySpan<float> z, Span<float> dA) =>
        Vectorized.Map(new TanhGradient(), dZ, z, dA);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BiasReluPlus(Span<float> a, ReadOnlySpan<float> bias, ReadOnlySpan<float> s, Span<float> z, int rows)
    {
        var n = bias.Length;
        Shapes.Require(a, rows * n, nameof(a));
        Shapes.Require(s, rows * n, nameof(s));
        Shapes.Require(z, rows * n, nameof(z));
        for (var r = 0; r < rows; r++)
        {
            var row = a.Slice(r * n, n);
            Vectorized.Map(new Add(), row, bias, row);
            Vectorized.Map(new ReluPlus(), row, s.Slice(r * n, n), z.Slice(r * n, n));
        }
    }

    public void ReluBackward(ReadOnlySpan<float> dZ, ReadOnlySpan<float> a, Span<float> dA) =>
        Vectorized.Map(new ReluGradient(), dZ, a, dA);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AddRowSums(ReadOnlySpan<float> x, Span<float> sums, int rows)
    {
        var n = sums.Length;
        Shapes.Require(x, rows * n, nameof(x));
        for (var r = 0; r < rows; r++)
            Vectorized.Map(new Add(), sums, x.Slice(r * n, n), sums);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ScaleColumns(ReadOnlySpan<float> x, int d, ReadOnlySpan<float> w, Span<float> s, int rows, int n)
    {
        var k = Shapes.DiagonalWidth(w, d, n);
        Shapes.Require(x, rows * d, nameof(x));
        Shapes.Require(s, rows * n, nameof(s));
        for (var r = 0; r < rows; r++)
        {
            var row = s.Slice(r * n, n);
            Vectorized.Map(new Multiply(), x.Slice(r * d, k), w, row[..k]);
            row[k..].Clear();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ScaleColumnsBackward(ReadOnlySpan<float> dS, int n, ReadOnlySpan<float> x, int d, ReadOnlySpan<float> w, Span<float> dW, Span<float> dX, int rows)
    {
        var k = Shapes.DiagonalWidth(w, d, n);
        Shapes.Require(dS, rows * n, nameof(dS));
        Shapes.Require(x, rows * d, nameof(x));
        Shapes.Require(dW, k, nameof(dW));
        for (var r = 0; r < rows; r++)
        {
            var dSRow = dS.Slice(r * n, k);
            Vectorized.Map(new MultiplyAdd(), dSRow, x.Slice(r * d, k), dW[..k], dW[..k]);
            if (!dX.IsEmpty)
            {
                var dXRow = dX.Slice(r * d, k);
                Vectorized.Map(new MultiplyAdd(), dSRow, w, dXRow, dXRow);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double BiasSoftmaxCrossEntropy(Span<float> logits, ReadOnlySpan<float> bias, ReadOnlySpan<int> labels, int rows)
    {
        var p = bias.Length;
        Shapes.Require(logits, rows * p, nameof(logits));
        var total = 0.0;
        for (var r = 0; r < rows; r++)
        {
            var row = logits.Slice(r * p, p);
            Vectorized.Map(new Add(), row, bias, row);
            var max = Max(row);
            var label = labels.IsEmpty ? -1 : Softmax.RequireLabel(labels[r], p, r);
            var shiftedLabelLogit = label < 0 ? 0f : row[label] - max;
            Vectorized.Map(new ShiftedExp(max), row, row);
            var sum = Sum(row);
            Vectorized.Map(new Scale(1f / sum), row, row);
            if (label >= 0) total += Softmax.RowLoss(sum, shiftedLabelLogit);
        }
        return total;
    }

    public void SoftmaxCrossEntropyBackward(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, Span<float> dLogits, int rows, float scale) =>
        Softmax.Backward(probabilities, labels, dLogits, rows, scale);

    public void AddScaled(Span<float> g, ReadOnlySpan<float> w, float scale) =>
        Vectorized.Map(new AddScaled(scale), g, w, g);

    public void SgdStep(Span<float> p, ReadOnlySpan<float> g, Span<float> v, float learningRate, float momentum, bool nesterov) =>
        OptimizerSteps.Sgd(p, g, v, learningRate, momentum, nesterov);

    public void AdamStep(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, in AdamCoefficients c) =>
        OptimizerSteps.Adam(p, g, m, v, c);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Max(ReadOnlySpan<float> row)
    {
        var max = float.NegativeInfinity;
        foreach (var value in row) max = MathF.Max(max, value);
        return max;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Sum(ReadOnlySpan<float> row)
    {
        var sum = 0f;
        foreach (var value in row) sum += value;
        return sum;
    }
}
