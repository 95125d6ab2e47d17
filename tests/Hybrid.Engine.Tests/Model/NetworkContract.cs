using Hybrid.Engine.Kernels;
using Hybrid.Engine.Layers;
using Hybrid.Engine.Model;
using Hybrid.Engine.Reference;
using Hybrid.Engine.Tests.Reference;

namespace Hybrid.Engine.Tests.Model;

/// <summary>
/// The float32 network, on each kernel set, against the double-precision reference whose gradients
/// the gradient checks prove.
/// </summary>
public abstract class NetworkContract
{
    // float32 carries 24 bits (≈6e-8 relative); through three layers of sums over ≤ 16 terms the
    // observed error is ~1e-6 of the largest entry, so 2e-5 of each tensor's largest magnitude
    // leaves headroom yet catches any real mistake (a dropped term is ≥ 1e-2 of the scale here).
    private const double FloatTolerance = 2e-5;

    protected abstract KernelSet CreateKernels();

    public static TheoryData<string, int, int, int, int, int, SkipKind, double> Cases() => GradientCheckTests.Cases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Loss_and_probabilities_match_the_reference(string name, int b, int d, int m, int l, int p, SkipKind skip, double l2)
    {
        var (reference, θ, x, labels) = GradientCheckTests.Problem(b, d, m, l, p, skip, l2);
        using var kernels = CreateKernels();
        var network = Load(reference, θ, kernels, b, l2);
        var expectedProbabilities = new double[b * p];
        var expected = reference.Loss(θ, x, labels, expectedProbabilities);
        var loss = network.Objective(network.Forward(ToFloat(x), labels, b));
        AssertClose(expected, loss, Math.Abs(expected), $"{name}: loss");
        AssertAllClose(expectedProbabilities, network.Probabilities(b).ToArray(), $"{name}: Y");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradients_match_the_reference(string name, int b, int d, int m, int l, int p, SkipKind skip, double l2)
    {
        var (reference, θ, x, labels) = GradientCheckTests.Problem(b, d, m, l, p, skip, l2);
        using var kernels = CreateKernels();
        var network = Load(reference, θ, kernels, b, l2);
        var (expected, expectedDX) = reference.Gradients(θ, x, labels);
        var dX = new float[b * d];
        network.Forward(ToFloat(x), labels, b);
        network.ZeroGradients();
        network.Backward(ToFloat(x), labels, dX, b);
        foreach (var (tensor, range, _) in network.Layout.Tensors)
            AssertAllClose(expected[range], network.Gradients[range], $"{name}: d{tensor}");
        AssertAllClose(expectedDX, dX, $"{name}: dX");
    }

    [Fact]
    public void Backward_adds_into_the_gradients()
    {
        var (reference, θ, x, labels) = GradientCheckTests.Problem(3, 4, 5, 4, 3, SkipKind.Dense, 0.0);
        using var kernels = CreateKernels();
        var network = Load(reference, θ, kernels, 3, 0.0);
        network.Forward(ToFloat(x), labels, 3);
        network.ZeroGradients();
        network.Backward(ToFloat(x), labels, [], 3);
        var once = (float[])network.Gradients.Clone();
        network.Backward(ToFloat(x), labels, [], 3);
        for (var i = 0; i < once.Length; i++)
            Assert.Equal(2 * once[i], network.Gradients[i], 1e-6f * (1 + Math.Abs(once[i])));
    }

    [Theory]
    [InlineData(1000f)]
    [InlineData(-1000f)]
    public void Logits_of_a_thousand_give_a_finite_loss_and_gradient(float logit)
    {
        // all weights zero, so A3 = b3 = (logit, −logit, 0) for both rows
        var shape = new NetworkShape(2, 3, 3, 3, SkipKind.Dense);
        using var kernels = CreateKernels();
        var network = new Network(shape, kernels, 2);
        var b3 = network.Parameters.AsSpan(network.Layout.B3);
        (b3[0], b3[1], b3[2]) = (logit, -logit, 0f);
        int[] labels = [0, 1];
        var loss = network.Forward(new float[4], labels, 2);
        network.ZeroGradients();
        network.Backward(new float[4], labels, [], 2);
        Assert.Equal(Math.Abs(logit), loss, 1e-3);
        Assert.All(network.Gradients, g => Assert.True(float.IsFinite(g)));
        // one row puts all its probability on its own label, the other on the wrong class: ∂ℓ/∂b3[1] = ∓1/2
        Assert.Equal(logit > 0 ? -0.5f : 0.5f, network.Gradients[network.Layout.B3.Start.Value + 1], 1e-6f);
    }

    private static Network Load(ReferenceNetwork reference, double[] θ, KernelSet kernels, int batch, double l2)
    {
        var network = new Network(reference.Shape, kernels, batch, (float)l2);
        ToFloat(θ).CopyTo(network.Parameters, 0);
        return network;
    }

    private static float[] ToFloat(double[] values) => values.Select(v => (float)v).ToArray();

    private static void AssertAllClose(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, string what)
    {
        var scale = 0.0;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs(e));
        for (var i = 0; i < expected.Length; i++)
            AssertClose(expected[i], actual[i], scale, $"{what}[{i}]");
    }

    private static void AssertClose(double expected, double actual, double scale, string what) =>
        Assert.True(Math.Abs(expected - actual) <= FloatTolerance * Math.Max(scale, 1e-3),
            $"{what}: float32 {actual:R} vs double {expected:R} (scale {scale:G3})");
}

public class FastNetworkTests : NetworkContract
{
    protected override KernelSet CreateKernels() => KernelSet.Fast(1);
}

public class FastTwoThreadNetworkTests : NetworkContract
{
    protected override KernelSet CreateKernels() => KernelSet.Fast(2);
}

public class NaiveNetworkTests : NetworkContract
{
    protected override KernelSet CreateKernels() => NaiveKernels.Create();
}
