using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;
using Hybrid.Engine.Reference;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Kernels;

/// <summary>
/// Every element-wise kernel against its definition in double precision, at every length 0..256
/// (so each vector width and every tail is hit) and at the kinks and extremes by name.
/// </summary>
public abstract class ElementwiseContract
{
    // Plain arithmetic ops round once or twice: 2 ulp of the result's magnitude.
    private const double ArithmeticTolerance = 2.5e-7;

    // The fast tanh is (1 − e)/(1 + e) with e = e^(−2|t|): near 0 it loses relative precision, but its
    // absolute error stays within 2 ulp of 1 (measured ≤ 9e-8 on a grid over [−15, 15]).
    private const double TanhAbsoluteTolerance = 1.5e-7;

    protected abstract IElementwiseKernels Kernels { get; }

    public static TheoryData<int> Lengths() => new(Enumerable.Range(0, 257));

    [Theory]
    [MemberData(nameof(Lengths))]
    public void BiasTanh_is_tanh_of_the_sum(int n)
    {
        var (a, bias) = (Draw(3 * n, 3.0, 1), Draw(n, 1.0, 2));
        var z = new float[3 * n];
        Kernels.BiasTanh(a, bias, z, 3);
        for (var i = 0; i < z.Length; i++)
            AssertNear(Math.Tanh((double)a[i] + bias[i % n]), z[i], TanhAbsoluteTolerance, $"z[{i}]");
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void TanhBackward_is_dZ_times_one_minus_z_squared(int n)
    {
        var (dZ, z) = (Draw(n, 1.0, 3), Draw(n, 0.5, 4));
        var dA = new float[n];
        Kernels.TanhBackward(dZ, z, dA);
        for (var i = 0; i < n; i++)
            AssertNear(dZ[i] * (1 - (double)z[i] * z[i]), dA[i], ArithmeticTolerance, $"dA[{i}]");
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void BiasReluPlus_adds_the_bias_and_the_skip(int n)
    {
        var (a, bias, s) = (Draw(2 * n, 1.0, 5), Draw(n, 0.5, 6), Draw(2 * n, 1.0, 7));
        var original = (float[])a.Clone();
        var z = new float[2 * n];
        Kernels.BiasReluPlus(a, bias, s, z, 2);
        for (var i = 0; i < z.Length; i++)
        {
            var sum = original[i] + bias[i % n];
            AssertNear(sum, a[i], ArithmeticTolerance, $"a[{i}]");
            AssertNear(Math.Max(sum, 0f) + (double)s[i], z[i], ArithmeticTolerance, $"z[{i}]");
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void ReluBackward_passes_the_gradient_where_the_input_is_positive(int n)
    {
        var (dZ, a) = (Draw(n, 1.0, 8), Draw(n, 1.0, 9));
        var dA = new float[n];
        Kernels.ReluBackward(dZ, a, dA);
        for (var i = 0; i < n; i++)
            Assert.Equal(a[i] > 0 ? dZ[i] : 0f, dA[i]);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void AddRowSums_adds_the_column_sums(int n)
    {
        var (x, sums) = (Draw(5 * n, 1.0, 10), Draw(n, 1.0, 11));
        var expected = sums.Select((v, j) => v + Enumerable.Range(0, 5).Sum(r => (double)x[r * n + j])).ToArray();
        Kernels.AddRowSums(x, sums, 5);
        for (var j = 0; j < n; j++)
            AssertNear(expected[j], sums[j], 4 * ArithmeticTolerance * 5, $"sums[{j}]");
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Clear_zeroes_every_element(int n)
    {
        var x = Draw(n, 1.0, 14);
        Kernels.Clear(x);
        Assert.All(x, v => Assert.Equal(0, BitConverter.SingleToInt32Bits(v)));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void AddScaled_adds_a_scaled_copy(int n)
    {
        var (g, w) = (Draw(n, 1.0, 12), Draw(n, 1.0, 13));
        var expected = g.Select((v, i) => v + 0.1 * w[i]).ToArray();
        Kernels.AddScaled(g, w, 1, 0.1f);
        for (var i = 0; i < n; i++)
            AssertNear(expected[i], g[i], ArithmeticTolerance * 4, $"g[{i}]");
    }

    [Theory]
    [InlineData(3, 5, 3)]
    [InlineData(5, 3, 3)]
    [InlineData(45, 65, 45)]
    [InlineData(64, 32, 32)]
    [InlineData(7, 7, 0)]
    public void ScaleColumns_and_its_backward_follow_the_diagonal_skip(int d, int n, int k)
    {
        const int rows = 3;
        var (x, w, dS) = (Draw(rows * d, 1.0, 14), Draw(k, 1.0, 15), Draw(rows * n, 1.0, 16));
        var s = Draw(rows * n, 1.0, 17);
        Kernels.ScaleColumns(x, d, w, s, rows, n);
        var (dW, dX) = (new float[k], new float[rows * d]);
        Kernels.ScaleColumnsBackward(dS, n, x, d, w, dW, dX, rows);
        for (var r = 0; r < rows; r++)
            for (var j = 0; j < n; j++)
                AssertNear(j < k ? (double)w[j] * x[r * d + j] : 0, s[r * n + j], ArithmeticTolerance, $"s[{r}, {j}]");
        for (var j = 0; j < k; j++)
            AssertNear(Enumerable.Range(0, rows).Sum(r => (double)dS[r * n + j] * x[r * d + j]), dW[j], 8 * ArithmeticTolerance, $"dW[{j}]");
        for (var r = 0; r < rows; r++)
            for (var i = 0; i < d; i++)
                AssertNear(i < k ? (double)dS[r * n + i] * w[i] : 0, dX[r * d + i], ArithmeticTolerance, $"dX[{r}, {i}]");
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(10)]
    [InlineData(17)]
    [InlineData(40)]
    public void Softmax_cross_entropy_matches_its_definition(int p)
    {
        const int rows = 4;
        var (logits, bias) = (Draw(rows * p, 4.0, 18), Draw(p, 1.0, 19));
        var labels = Enumerable.Range(0, rows).Select(r => (r * 7) % p).ToArray();
        var expectedLoss = 0.0;
        var expected = new double[rows * p];
        for (var r = 0; r < rows; r++)
        {
            var row = Enumerable.Range(0, p).Select(j => (double)logits[r * p + j] + bias[j]).ToArray();
            var logSum = Math.Log(row.Sum(v => Math.Exp(v - row.Max()))) + row.Max();
            for (var j = 0; j < p; j++) expected[r * p + j] = Math.Exp(row[j] - logSum);
            expectedLoss += logSum - row[labels[r]];
        }
        var loss = Kernels.BiasSoftmaxCrossEntropy(logits, bias, labels, rows);
        var dLogits = new float[rows * p];
        Kernels.SoftmaxCrossEntropyBackward(logits, labels, dLogits, rows, 0.25f);
        AssertNear(expectedLoss, loss, 1e-5, "loss");
        for (var i = 0; i < rows * p; i++)
        {
            AssertNear(expected[i], logits[i], 1e-6, $"y[{i}]");
            AssertNear((expected[i] - (i % p == labels[i / p] ? 1 : 0)) * 0.25, dLogits[i], 1e-6, $"dA[{i}]");
        }
    }

    [Theory]
    [InlineData(1000f)]
    [InlineData(-1000f)]
    public void Softmax_of_extreme_logits_is_finite(float extreme)
    {
        float[] logits = [extreme, -extreme, 0f];
        var loss = Kernels.BiasSoftmaxCrossEntropy(logits, new float[3], [1], 1);
        Assert.Equal(2 * Math.Abs(extreme) * (extreme > 0 ? 1 : 0), loss, 1e-3);
        Assert.All(logits, y => Assert.True(float.IsFinite(y)));
    }

    [Theory]
    [InlineData(300f)]
    [InlineData(-300f)]
    [InlineData(float.MaxValue)]
    public void Tanh_saturates_to_exactly_one_at_the_extremes(float t)
    {
        var a = Enumerable.Repeat(t, 37).ToArray();
        var z = new float[37];
        Kernels.BiasTanh(a, new float[37], z, 1);
        Assert.All(z, v => Assert.Equal(MathF.Sign(t), v));
    }

    [Fact]
    public void Relu_at_exactly_zero_passes_no_gradient_and_outputs_the_skip()
    {
        var a = new float[37];
        var s = Enumerable.Repeat(0.5f, 37).ToArray();
        var z = new float[37];
        Kernels.BiasReluPlus(a, new float[37], s, z, 1);
        var dA = Enumerable.Repeat(9f, 37).ToArray();
        Kernels.ReluBackward(Enumerable.Repeat(1f, 37).ToArray(), a, dA);
        Assert.All(z, v => Assert.Equal(0.5f, v));
        Assert.All(dA, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void A_label_outside_the_classes_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Kernels.BiasSoftmaxCrossEntropy(new float[6], new float[3], [0, 3], 2));
        Assert.Contains("labels[1]: expected a class in [0, 3), found 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_short_output_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => Kernels.BiasTanh(new float[6], new float[3], new float[5], 2));
        Assert.Contains("z: expected at least 6 elements, found 5", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(40)]
    public void GatherRows_copies_the_listed_rows_in_order(int columns)
    {
        const int sourceRows = 7;
        var source = Draw(sourceRows * columns, 1.0, 4);
        int[] rows = [6, 0, 3, 3, 1];
        var destination = Enumerable.Repeat(float.NaN, rows.Length * columns + 3).ToArray();
        Kernels.GatherRows(source, columns, rows, destination);
        for (var r = 0; r < rows.Length; r++)
            Assert.Equal(source.AsSpan(rows[r] * columns, columns).ToArray(), destination.AsSpan(r * columns, columns).ToArray());
        Assert.All(destination[(rows.Length * columns)..], v => Assert.True(float.IsNaN(v), "past the gathered rows: untouched"));
    }

    [Fact]
    public void GatherRows_refuses_a_row_outside_the_source()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Kernels.GatherRows(new float[6], 3, [1, 2], new float[6]));
        Assert.Contains("rows[1]: expected a row in [0, 2), found 2", e.Message, StringComparison.Ordinal);
    }

    private static float[] Draw(int count, double scale, ulong seed)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(rng.NextGaussian() * scale)).ToArray();
    }

    private static void AssertNear(double expected, double actual, double tolerance, string what) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance * Math.Max(1.0, Math.Abs(expected)),
            $"{what}: expected {expected:R}, found {actual:R}");
}

public class FastElementwiseTests : ElementwiseContract
{
    protected override IElementwiseKernels Kernels { get; } = new FastElementwise();
}

/// <summary>The fast kernels with every buffer, however small, split between two threads.</summary>
public class FastElementwiseTwoThreadTests : ElementwiseContract
{
    internal static readonly WorkerPool Pool = new(2);

    protected override IElementwiseKernels Kernels { get; } = new FastElementwise(Pool, parallelThreshold: 1);
}

public class NaiveElementwiseTests : ElementwiseContract
{
    protected override IElementwiseKernels Kernels { get; } = new NaiveElementwise();
}
