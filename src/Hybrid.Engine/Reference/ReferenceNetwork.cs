using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;

namespace Hybrid.Engine.Reference;

/// <summary>
/// The network in double precision as plain loops straight from docs/backprop.md: the oracle the
/// gradient checks differentiate numerically, and the float32 engine is compared against.
/// Parameters use the engine's <see cref="ParameterLayout"/>.
/// </summary>
public sealed class ReferenceNetwork(NetworkShape shape, double l2 = 0.0)
{
    private readonly ParameterLayout _layout = new(shape);

    public NetworkShape Shape { get; } = shape;

    public ParameterLayout Layout => _layout;

    /// <summary>x: (B, D)  labels: (B)  →  mean cross-entropy + (λ/2)·Σ w²; probabilities (B, P) when asked.</summary>
    public double Loss(double[] θ, double[] x, int[] labels, double[]? probabilities = null)
    {
        var f = Forward(θ, x, labels.Length);
        var loss = 0.0;
        for (var b = 0; b < labels.Length; b++)
            loss -= f.LogY[b, labels[b]];
        if (probabilities is not null)
            for (var b = 0; b < labels.Length; b++)
                for (var j = 0; j < Shape.P; j++)
                    probabilities[b * Shape.P + j] = Math.Exp(f.LogY[b, j]);
        return loss / labels.Length + Penalty(θ);
    }

    /// <summary>∂ℓ/∂θ (laid out like θ) and ∂ℓ/∂x (B, D).</summary>
    public (double[] DTheta, double[] DX) Gradients(double[] θ, double[] x, int[] labels)
    {
        var (s, p) = (Shape, _layout);
        var batch = labels.Length;
        var f = Forward(θ, x, batch);
        var g = new double[θ.Length];
        var dX = new double[batch * s.D];
        var dA3 = new double[batch, s.P];
        for (var b = 0; b < batch; b++)
            for (var j = 0; j < s.P; j++)
                dA3[b, j] = (Math.Exp(f.LogY[b, j]) - (j == labels[b] ? 1 : 0)) / batch;
        var dZ2 = BackLinear(θ, p.W3, p.B3, g, dA3, f.Z2, s.L);
        var dA2 = new double[batch, s.L];
        for (var b = 0; b < batch; b++)
            for (var j = 0; j < s.L; j++)
                dA2[b, j] = f.A2[b, j] > 0 ? dZ2[b, j] : 0;
        BackSkip(θ, g, dX, dZ2, x, batch);
        var dZ1 = BackLinear(θ, p.W2, p.B2, g, dA2, f.Z1, s.M);
        var dA1 = new double[batch, s.M];
        for (var b = 0; b < batch; b++)
            for (var j = 0; j < s.M; j++)
                dA1[b, j] = dZ1[b, j] * (1 - f.Z1[b, j] * f.Z1[b, j]);
        var xMatrix = ToMatrix(x, batch, s.D);
        var dX1 = BackLinear(θ, p.W1, p.B1, g, dA1, xMatrix, s.D);
        for (var b = 0; b < batch; b++)
            for (var i = 0; i < s.D; i++)
                dX[b * s.D + i] += dX1[b, i];
        foreach (var range in _layout.Weights)
            for (var i = range.Start.Value; i < range.End.Value; i++)
                g[i] += l2 * θ[i];
        return (g, dX);
    }

    private sealed record Pass(double[,] Z1, double[,] A2, double[,] Z2, double[,] LogY);

    private Pass Forward(double[] θ, double[] x, int batch)
    {
        var (s, p) = (Shape, _layout);
        var xMatrix = ToMatrix(x, batch, s.D);
        var z1 = Map(Affine(θ, p.W1, p.B1, xMatrix, s.M), Math.Tanh);
        var a2 = Affine(θ, p.W2, p.B2, z1, s.L);
        var z2 = new double[batch, s.L];
        for (var b = 0; b < batch; b++)
            for (var j = 0; j < s.L; j++)
                z2[b, j] = Math.Max(a2[b, j], 0) + SkipValue(θ, x, b, j);
        var a3 = Affine(θ, p.W3, p.B3, z2, s.P);
        return new Pass(z1, a2, z2, LogSoftmax(a3));
    }

    private double SkipValue(double[] θ, double[] x, int b, int j)
    {
        var (s, start) = (Shape, _layout.Skip.Start.Value);
        switch (s.Skip)
        {
            case SkipKind.Dense:
                var sum = 0.0;
                for (var i = 0; i < s.D; i++) sum += θ[start + j * s.D + i] * x[b * s.D + i];
                return sum;
            case SkipKind.Diagonal:
                return j < s.DiagonalWidth ? θ[start + j] * x[b * s.D + j] : 0;
            default:
                return 0;
        }
    }

    private void BackSkip(double[] θ, double[] g, double[] dX, double[,] dZ2, double[] x, int batch)
    {
        var (s, start) = (Shape, _layout.Skip.Start.Value);
        for (var b = 0; b < batch; b++)
            for (var j = 0; j < s.L; j++)
            {
                if (s.Skip == SkipKind.Dense)
                    for (var i = 0; i < s.D; i++)
                    {
                        g[start + j * s.D + i] += dZ2[b, j] * x[b * s.D + i];
                        dX[b * s.D + i] += dZ2[b, j] * θ[start + j * s.D + i];
                    }
                else if (s.Skip == SkipKind.Diagonal && j < s.DiagonalWidth)
                {
                    g[start + j] += dZ2[b, j] * x[b * s.D + j];
                    dX[b * s.D + j] += dZ2[b, j] * θ[start + j];
                }
            }
    }

    // y[b, o] = Σ_i W[o, i]·x[b, i] + bias[o]
    private static double[,] Affine(double[] θ, Range w, Range bias, double[,] x, int outputs)
    {
        var (batch, inputs) = (x.GetLength(0), x.GetLength(1));
        var y = new double[batch, outputs];
        for (var b = 0; b < batch; b++)
            for (var o = 0; o < outputs; o++)
            {
                var sum = θ[bias.Start.Value + o];
                for (var i = 0; i < inputs; i++) sum += θ[w.Start.Value + o * inputs + i] * x[b, i];
                y[b, o] = sum;
            }
        return y;
    }

    // dW += dYᵀ·x, dB += Σ_b dY, returns dX = dY·W
    private static double[,] BackLinear(double[] θ, Range w, Range bias, double[] g, double[,] dY, double[,] x, int inputs)
    {
        var (batch, outputs) = (dY.GetLength(0), dY.GetLength(1));
        var dX = new double[batch, inputs];
        for (var b = 0; b < batch; b++)
            for (var o = 0; o < outputs; o++)
            {
                g[bias.Start.Value + o] += dY[b, o];
                for (var i = 0; i < inputs; i++)
                {
                    g[w.Start.Value + o * inputs + i] += dY[b, o] * x[b, i];
                    dX[b, i] += dY[b, o] * θ[w.Start.Value + o * inputs + i];
                }
            }
        return dX;
    }

    private static double[,] LogSoftmax(double[,] a)
    {
        var (batch, classes) = (a.GetLength(0), a.GetLength(1));
        var result = new double[batch, classes];
        for (var b = 0; b < batch; b++)
        {
            var max = double.NegativeInfinity;
            for (var j = 0; j < classes; j++) max = Math.Max(max, a[b, j]);
            var sum = 0.0;
            for (var j = 0; j < classes; j++) sum += Math.Exp(a[b, j] - max);
            for (var j = 0; j < classes; j++) result[b, j] = a[b, j] - max - Math.Log(sum);
        }
        return result;
    }

    private double Penalty(double[] θ)
    {
        var sum = 0.0;
        foreach (var range in _layout.Weights)
            for (var i = range.Start.Value; i < range.End.Value; i++) sum += θ[i] * θ[i];
        return 0.5 * l2 * sum;
    }

    private static double[,] Map(double[,] a, Func<double, double> f)
    {
        var result = new double[a.GetLength(0), a.GetLength(1)];
        for (var i = 0; i < a.GetLength(0); i++)
            for (var j = 0; j < a.GetLength(1); j++) result[i, j] = f(a[i, j]);
        return result;
    }

    private static double[,] ToMatrix(double[] x, int rows, int columns)
    {
        var m = new double[rows, columns];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < columns; c++) m[r, c] = x[r * columns + c];
        return m;
    }
}
