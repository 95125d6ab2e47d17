using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Reference;

/// <summary>The element-wise kernels as plain loops: the obviously right twin of <see cref="FastElementwise"/>.</summary>
public sealed class NaiveElementwise : IElementwiseKernels
{
    public void BiasTanh(ReadOnlySpan<float> a, ReadOnlySpan<float> bias, Span<float> z, int rows)
    {
        var n = bias.Length;
        Shapes.Require(a, rows * n, nameof(a));
        Shapes.Require(z, rows * n, nameof(z));
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < n; j++)
                z[r * n + j] = MathF.Tanh(a[r * n + j] + bias[j]);
    }

    public void TanhBackward(ReadOnlySpan<float> dZ, ReadOnlySpan<float> z, Span<float> dA)
    {
        RequireSameLength(dZ.Length, z.Length, dA.Length);
        for (var i = 0; i < dA.Length; i++)
            dA[i] = dZ[i] * (1f - z[i] * z[i]);
    }

    public void BiasReluPlus(Span<float> a, ReadOnlySpan<float> bias, ReadOnlySpan<float> s, Span<float> z, int rows)
    {
        var n = bias.Length;
        Shapes.Require(a, rows * n, nameof(a));
        Shapes.Require(s, rows * n, nameof(s));
        Shapes.Require(z, rows * n, nameof(z));
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < n; j++)
            {
                var i = r * n + j;
                a[i] += bias[j];
                z[i] = (a[i] > 0f ? a[i] : 0f) + s[i];
            }
    }

    public void ReluBackward(ReadOnlySpan<float> dZ, ReadOnlySpan<float> a, Span<float> dA)
    {
        RequireSameLength(dZ.Length, a.Length, dA.Length);
        for (var i = 0; i < dA.Length; i++)
            dA[i] = a[i] > 0f ? dZ[i] : 0f;
    }

    public void AddRowSums(ReadOnlySpan<float> x, Span<float> sums, int rows)
    {
        var n = sums.Length;
        Shapes.Require(x, rows * n, nameof(x));
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < n; j++)
                sums[j] += x[r * n + j];
    }

    public void ScaleColumns(ReadOnlySpan<float> x, int d, ReadOnlySpan<float> w, Span<float> s, int rows, int n)
    {
        var k = Shapes.DiagonalWidth(w, d, n);
        Shapes.Require(x, rows * d, nameof(x));
        Shapes.Require(s, rows * n, nameof(s));
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < n; j++)
                s[r * n + j] = j < k ? w[j] * x[r * d + j] : 0f;
    }

    public void ScaleColumnsBackward(ReadOnlySpan<float> dS, int n, ReadOnlySpan<float> x, int d, ReadOnlySpan<float> w, Span<float> dW, Span<float> dX, int rows)
    {
        var k = Shapes.DiagonalWidth(w, d, n);
        Shapes.Require(dS, rows * n, nameof(dS));
        Shapes.Require(x, rows * d, nameof(x));
        Shapes.Require(dW, k, nameof(dW));
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < k; j++)
            {
                dW[j] += dS[r * n + j] * x[r * d + j];
                if (!dX.IsEmpty) dX[r * d + j] += dS[r * n + j] * w[j];
            }
    }

    public double BiasSoftmaxCrossEntropy(Span<float> logits, ReadOnlySpan<float> bias, ReadOnlySpan<int> labels, int rows)
    {
        var p = bias.Length;
        Shapes.Require(logits, rows * p, nameof(logits));
        var total = 0.0;
        for (var r = 0; r < rows; r++)
        {
            var row = logits.Slice(r * p, p);
            var max = float.NegativeInfinity;
            for (var j = 0; j < p; j++)
            {
                row[j] += bias[j];
                max = MathF.Max(max, row[j]);
            }
            var label = labels.IsEmpty ? -1 : Softmax.RequireLabel(labels[r], p, r);
            var shiftedLabelLogit = label < 0 ? 0f : row[label] - max;
            var sum = 0f;
            for (var j = 0; j < p; j++)
            {
                row[j] = MathF.Exp(row[j] - max);
                sum += row[j];
            }
            for (var j = 0; j < p; j++)
                row[j] /= sum;
            if (label >= 0) total += Softmax.RowLoss(sum, shiftedLabelLogit);
        }
        return total;
    }

    public void SoftmaxCrossEntropyBackward(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, Span<float> dLogits, int rows, float scale) =>
        Softmax.Backward(probabilities, labels, dLogits, rows, scale);

    public void Clear(Span<float> x)
    {
        for (var i = 0; i < x.Length; i++)
            x[i] = 0f;
    }

    public void AddScaled(Span<float> g, ReadOnlySpan<float> w, int columns, float scale)
    {
        Shapes.RequireRows(g.Length, columns);
        RequireSameLength(g.Length, w.Length, g.Length);
        for (var i = 0; i < g.Length; i++)
            g[i] += scale * w[i];
    }

    public void GatherRows(ReadOnlySpan<float> source, int columns, ReadOnlySpan<int> rows, Span<float> destination)
    {
        Shapes.RequireRows(source.Length, columns);
        Shapes.Require(destination, rows.Length * columns, nameof(destination));
        for (var r = 0; r < rows.Length; r++)
        {
            var row = Shapes.RowIndex(rows, r, source.Length / columns);
            for (var j = 0; j < columns; j++) destination[r * columns + j] = source[row * columns + j];
        }
    }

    public void SgdStep(Span<float> p, ReadOnlySpan<float> g, Span<float> v, int columns, float learningRate, float momentum, bool nesterov)
    {
        RequireSameLength(p.Length, g.Length, v.Length);
        Shapes.RequireRows(p.Length, columns);
        for (var i = 0; i < p.Length; i++)
        {
            if (momentum == 0f)
            {
                p[i] -= learningRate * g[i];
                continue;
            }

            v[i] = momentum * v[i] + g[i];
            p[i] -= learningRate * (nesterov ? g[i] + momentum * v[i] : v[i]);
        }
    }

    public void AdamStep(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, int columns, in AdamCoefficients c)
    {
        RequireSameLength(p.Length, g.Length, m.Length);
        Shapes.RequireRows(p.Length, columns);
        RequireSameLength(p.Length, v.Length, p.Length);
        for (var i = 0; i < p.Length; i++)
        {
            m[i] = c.Beta1 * m[i] + (1f - c.Beta1) * g[i];
            v[i] = c.Beta2 * v[i] + (1f - c.Beta2) * (g[i] * g[i]);
            var mHat = m[i] / c.Correction1;
            var vHat = v[i] / c.Correction2;
            p[i] -= c.LearningRate * (mHat / (MathF.Sqrt(vHat) + c.Epsilon) + c.Decay * p[i]);
        }
    }

    private static void RequireSameLength(int first, int second, int third)
    {
        if (second != first || third != first)
            throw new ArgumentException($"element-wise operands: expected equal lengths, found {first}, {second} and {third}");
    }
}
