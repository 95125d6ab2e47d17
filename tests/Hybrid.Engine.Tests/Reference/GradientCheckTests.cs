using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;
using Hybrid.Engine.Reference;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Reference;

/// <summary>
/// The derivation in docs/backprop.md, proven numerically: the double-precision reference's
/// hand-written gradients against central differences of its loss, for every parameter and the
/// input, every skip kind and the awkward shapes.
/// </summary>
public class GradientCheckTests
{
    // Central differences with h = 1e-6 carry truncation error ~h²·|ℓ'''| ≈ 1e-12 and rounding error
    // ~ε·|ℓ|/h ≈ 1e-10; a gradient entry passes if |g − ĝ| ≤ AbsoluteTolerance + RelativeTolerance·max(|g|, |ĝ|).
    private const double Step = 1e-6;
    private const double RelativeTolerance = 1e-6;
    private const double AbsoluteTolerance = 1e-8;

    public static TheoryData<string, int, int, int, int, int, SkipKind, double> Cases()
    {
        var data = new TheoryData<string, int, int, int, int, int, SkipKind, double>();
        foreach (var skip in new[] { SkipKind.Dense, SkipKind.Diagonal, SkipKind.None })
        {
            data.Add("typical", 4, 5, 6, 4, 3, skip, 0.0);
            data.Add("B=1", 1, 5, 6, 4, 3, skip, 0.0);
            data.Add("D=1", 3, 1, 4, 3, 3, skip, 0.0);
            data.Add("L<D", 3, 7, 5, 3, 4, skip, 0.0);
            data.Add("L>D", 3, 3, 5, 6, 4, skip, 0.0);
            data.Add("P=2", 5, 4, 3, 4, 2, skip, 0.0);
            data.Add("weight decay", 3, 4, 5, 4, 3, skip, 0.1);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_parameter_gradient_matches_central_differences(string name, int b, int d, int m, int l, int p, SkipKind skip, double l2)
    {
        var (net, θ, x, labels) = Problem(b, d, m, l, p, skip, l2);
        var (analytic, _) = net.Gradients(θ, x, labels);
        foreach (var (tensor, range, _) in net.Layout.Tensors)
            for (var i = range.Start.Value; i < range.End.Value; i++)
                AssertClose(analytic[i], Numeric(θ, i, t => net.Loss(t, x, labels)), $"{name}: {tensor}[{i - range.Start.Value}]");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Input_gradient_matches_central_differences(string name, int b, int d, int m, int l, int p, SkipKind skip, double l2)
    {
        var (net, θ, x, labels) = Problem(b, d, m, l, p, skip, l2);
        var (_, analytic) = net.Gradients(θ, x, labels);
        for (var i = 0; i < x.Length; i++)
            AssertClose(analytic[i], Numeric(x, i, t => net.Loss(θ, t, labels)), $"{name}: x[{i / d}, {i % d}]");
    }

    [Fact]
    public void A_wrong_gradient_fails_the_check()
    {
        var (net, θ, x, labels) = Problem(3, 4, 5, 4, 3, SkipKind.Dense, 0.0);
        var (analytic, _) = net.Gradients(θ, x, labels);
        var i = net.Layout.W2.Start.Value;
        var numeric = Numeric(θ, i, t => net.Loss(t, x, labels));
        Assert.False(Close(analytic[i] * (1 + 1e-5), numeric), "a 1e-5 relative error must exceed the tolerance");
    }

    private static void AssertClose(double analytic, double numeric, string what) =>
        Assert.True(Close(analytic, numeric), $"{what}: analytic {analytic:R} vs numeric {numeric:R}");

    private static bool Close(double a, double b) =>
        Math.Abs(a - b) <= AbsoluteTolerance + RelativeTolerance * Math.Max(Math.Abs(a), Math.Abs(b));

    private static double Numeric(double[] values, int i, Func<double[], double> loss)
    {
        var copy = (double[])values.Clone();
        copy[i] = values[i] + Step;
        var up = loss(copy);
        copy[i] = values[i] - Step;
        var down = loss(copy);
        return (up - down) / (2 * Step);
    }

    /// <summary>
    /// Random parameters and data, redrawn until every ReLU input is at least 1e-3 from the kink,
    /// so a finite difference never straddles it (the kink itself has its own kernel tests).
    /// </summary>
    internal static (ReferenceNetwork Net, double[] Theta, double[] X, int[] Labels) Problem(
        int b, int d, int m, int l, int p, SkipKind skip, double l2, ulong seed = 7)
    {
        var net = new ReferenceNetwork(new NetworkShape(d, m, l, p, skip), l2);
        var rng = new Rng(seed);
        while (true)
        {
            var θ = Draw(rng, net.Layout.Count, 0.8);
            var x = Draw(rng, b * d, 1.0);
            var labels = Enumerable.Range(0, b).Select(_ => rng.NextInt(p)).ToArray();
            if (KinkFree(net, θ, x, b)) return (net, θ, x, labels);
        }
    }

    private static double[] Draw(Rng rng, int count, double scale) =>
        Enumerable.Range(0, count).Select(_ => rng.NextGaussian() * scale).ToArray();

    private static bool KinkFree(ReferenceNetwork net, double[] θ, double[] x, int batch)
    {
        var (s, layout) = (net.Shape, net.Layout);
        for (var r = 0; r < batch; r++)
            for (var j = 0; j < s.L; j++)
            {
                var a2 = θ[layout.B2.Start.Value + j];
                for (var k = 0; k < s.M; k++)
                {
                    var a1 = θ[layout.B1.Start.Value + k];
                    for (var i = 0; i < s.D; i++) a1 += θ[layout.W1.Start.Value + k * s.D + i] * x[r * s.D + i];
                    a2 += θ[layout.W2.Start.Value + j * s.M + k] * Math.Tanh(a1);
                }
                if (Math.Abs(a2) < 1e-3) return false;
            }
        return true;
    }
}
