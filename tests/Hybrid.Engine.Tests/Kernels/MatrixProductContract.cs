using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;
using Hybrid.Engine.Reference;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Kernels;

public enum Product
{
    ABt,
    AtB,
    AB,
}

/// <summary>
/// What every <see cref="IMatrixProducts"/> must do, checked against a double-precision triple loop.
/// One subclass per implementation; each case is a named theory row, so a failure names its shape.
/// </summary>
public abstract class MatrixProductContract
{
    // Inputs are uniform in [−1, 1), and the error is measured against scale = √k · max|a| · max|b|,
    // the typical size of a length-k dot product. Float rounding (2⁻²⁴ ≈ 6e-8 per operation) leaves
    // a worst element, over thousands per case, of about 8e-7 · scale for the blocked fast sums and
    // 1.7e-6 · scale for the naive loop at k = 784 (one running total, whose error grows faster
    // than √k). 4e-6 covers both with a margin, and still fails on any real mistake: one dropped or
    // doubled term moves a sum by ~0.3 · max|a| · max|b|, thousands of times more.
    private const double RelativeTolerance = 4e-6;

    // The error floor when every input is zero or tiny, far below any meaningful product.
    private const double AbsoluteTolerance = 1e-12;

    // Written past the end of c to prove that longer spans are allowed and left alone.
    private const int Guard = 5;
    private const float GuardValue = 12345f;

    protected abstract IMatrixProducts Create();

    public static TheoryData<Product, int, int, int, bool> Shapes()
    {
        int[] edges = [0, 1, 7, 9, 33];
        int[] sizes = [0, 1, 2, 7, 8, 9, 31, 32, 33];
        var shapes = new List<(int M, int N, int K)>();
        foreach (var m in edges)
        {
            foreach (var n in edges)
            {
                foreach (var k in edges) shapes.Add((m, n, k));
            }
        }

        foreach (var v in sizes)
        {
            shapes.Add((v, v, v));
            shapes.Add((v, 33, 9));
            shapes.Add((9, v, 33));
            shapes.Add((33, 9, v));
        }

        // Odd shapes, the MNIST shapes, k cut into unequal blocks (257, 300), m past one A block
        // (300 > 128) and n past one B block (2100 > 2048).
        shapes.AddRange([
            (45, 65, 33), (128, 256, 784), (128, 10, 128), (1, 256, 784), (10, 128, 128), (128, 128, 10),
            (256, 784, 128), (17, 300, 257), (300, 40, 20), (8, 2100, 3), (64, 64, 300),
        ]);

        var data = new TheoryData<Product, int, int, int, bool>();
        foreach (var (m, n, k) in shapes.Distinct())
        {
            foreach (var product in Enum.GetValues<Product>())
            {
                data.Add(product, m, n, k, false);
                data.Add(product, m, n, k, true);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesDoublePrecision(Product product, int m, int n, int k, bool accumulate)
    {
        var rng = new Rng((ulong)(m * 1_000_003 + n * 1_009 + k));
        var a = Uniform(rng, m * k);
        var b = Uniform(rng, n * k);
        var c0 = accumulate ? Uniform(rng, m * n) : Filled(m * n, float.NaN);
        var c = new float[m * n + Guard];
        c0.CopyTo(c, 0);
        c.AsSpan(m * n).Fill(GuardValue);

        Use(products => Call(products, product, a, b, c, m, n, k, accumulate));

        var expected = Reference(product, a, b, m, n, k);
        var scale = Math.Sqrt(k) * MaxAbs(a) * MaxAbs(b) + (accumulate ? MaxAbs(c0) : 0);
        var tolerance = AbsoluteTolerance + RelativeTolerance * scale;
        for (var i = 0; i < m * n; i++)
        {
            var want = expected[i] + (accumulate ? c0[i] : 0);
            var error = Math.Abs(c[i] - want);
            Assert.True(error <= tolerance, $"c[{i / Math.Max(n, 1)}, {i % Math.Max(n, 1)}] = {c[i]}, expected {want}: error {error:E2} > {tolerance:E2}");
        }

        for (var i = m * n; i < c.Length; i++) Assert.Equal(GuardValue, c[i]);
    }

    public static TheoryData<Product, string> ShortOperands()
    {
        var data = new TheoryData<Product, string>();
        foreach (var product in Enum.GetValues<Product>())
        {
            foreach (var name in new[] { "a", "b", "c" }) data.Add(product, name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ShortOperands))]
    public void RejectsShortSpan(Product product, string name)
    {
        const int m = 3, n = 4, k = 5;
        var a = new float[name == "a" ? m * k - 1 : m * k];
        var b = new float[name == "b" ? n * k - 1 : n * k];
        var c = new float[name == "c" ? m * n - 1 : m * n];
        var expected = name switch { "a" => m * k, "b" => n * k, _ => m * n };

        var error = Assert.ThrowsAny<ArgumentException>(() => Use(p => Call(p, product, a, b, c, m, n, k, false)));

        Assert.Equal(name, error.ParamName);
        Assert.Contains($"expected at least {expected} elements, found {expected - 1}", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<Product, string> NegativeDimensions()
    {
        var data = new TheoryData<Product, string>();
        foreach (var product in Enum.GetValues<Product>())
        {
            foreach (var name in new[] { "m", "n", "k" }) data.Add(product, name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(NegativeDimensions))]
    public void RejectsNegativeDimension(Product product, string name)
    {
        var (m, n, k) = name switch { "m" => (-1, 2, 2), "n" => (2, -1, 2), _ => (2, 2, -1) };
        var buffer = new float[16];

        var error = Assert.ThrowsAny<ArgumentException>(() => Use(p => Call(p, product, buffer, buffer, buffer, m, n, k, false)));

        Assert.Equal(name, error.ParamName);
    }

    public static TheoryData<EpilogueKind, Product, int, int, int> EpilogueCases()
    {
        var data = new TheoryData<EpilogueKind, Product, int, int, int>();
        (int M, int N, int K)[] shapes = [(1, 1, 1), (9, 33, 7), (45, 65, 33), (128, 256, 784), (300, 40, 20), (7, 9, 0)];
        foreach (var kind in Enum.GetValues<EpilogueKind>())
        {
            foreach (var product in Enum.GetValues<Product>())
            {
                foreach (var (m, n, k) in shapes) data.Add(kind, product, m, n, k);
            }
        }

        return data;
    }

    // c + a·b (accumulating, so both the product and the epilogue see an existing c), then the
    // epilogue, against the epilogue's definition applied in double to the double-precision product.
    [Theory]
    [MemberData(nameof(EpilogueCases))]
    public void EpilogueMatchesItsDefinition(EpilogueKind kind, Product product, int m, int n, int k)
    {
        var rng = new Rng((ulong)(m * 7_919 + n * 31 + k) + (ulong)kind);
        var (a, b, c0) = (Uniform(rng, m * k), Uniform(rng, n * k), Uniform(rng, m * n));
        var (bias, operand) = (Uniform(rng, n), Uniform(rng, m * n));
        var c = (float[])c0.Clone();
        var output = Filled(m * n, float.NaN);

        Use(products => Call(products, product, a, b, c, m, n, k, accumulate: true, EpilogueOf(kind, bias, operand, output)));

        var sums = Reference(product, a, b, m, n, k);
        var tolerance = 2 * AbsoluteTolerance + RelativeTolerance * (Math.Sqrt(k) * MaxAbs(a) * MaxAbs(b) + MaxAbs(c0) + MaxAbs(bias)) + 1.5e-7;
        for (var i = 0; i < m * n; i++)
        {
            var sum = sums[i] + c0[i];
            var biased = sum + bias[i % n];
            var (wantC, wantOutput) = kind switch
            {
                EpilogueKind.BiasTanh => (Math.Tanh(biased), double.NaN),
                EpilogueKind.BiasReluPlus => (biased, Math.Max(biased, 0) + operand[i]),
                EpilogueKind.TanhGradient => (sum, sum * (1 - (double)operand[i] * operand[i])),
                EpilogueKind.ReluGradient => (sum, operand[i] > 0 ? sum : 0),
                _ => (sum, double.NaN),
            };
            Assert.True(Math.Abs(c[i] - wantC) <= tolerance, $"{kind}: c[{i}] = {c[i]}, expected {wantC}");
            if (double.IsNaN(wantOutput)) Assert.True(float.IsNaN(output[i]), $"{kind}: output[{i}] written");
            else Assert.True(Math.Abs(output[i] - wantOutput) <= tolerance, $"{kind}: output[{i}] = {output[i]}, expected {wantOutput}");
        }
    }

    [Fact]
    public void RejectsAnEpilogueOfTheWrongShape()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => Use(p =>
            p.MultiplyABt(new float[6], new float[6], new float[4], 2, 2, 3, false, Epilogue.BiasTanh(new float[3]))));
        Assert.Contains("epilogue bias: expected 2 elements (one per column of c), found 3", error.Message, StringComparison.Ordinal);
    }

    internal static Epilogue EpilogueOf(EpilogueKind kind, float[] bias, float[] operand, float[] output) => kind switch
    {
        EpilogueKind.BiasTanh => Epilogue.BiasTanh(bias),
        EpilogueKind.BiasReluPlus => Epilogue.BiasReluPlus(bias, operand, output),
        EpilogueKind.TanhGradient => Epilogue.TanhGradient(operand, output),
        EpilogueKind.ReluGradient => Epilogue.ReluGradient(operand, output),
        _ => default,
    };

    internal static void Call(IMatrixProducts products, Product product, float[] a, float[] b, float[] c, int m, int n, int k, bool accumulate,
        Epilogue epilogue = default)
    {
        switch (product)
        {
            case Product.ABt: products.MultiplyABt(a, b, c, m, n, k, accumulate, epilogue); break;
            case Product.AtB: products.MultiplyAtB(a, b, c, m, n, k, accumulate, epilogue); break;
            case Product.AB: products.MultiplyAB(a, b, c, m, n, k, accumulate, epilogue); break;
            default: throw new ArgumentOutOfRangeException(nameof(product));
        }
    }

    internal static float[] Uniform(Rng rng, int length)
    {
        var values = new float[length];
        for (var i = 0; i < length; i++) values[i] = (float)(2 * rng.NextDouble() - 1);
        return values;
    }

    private void Use(Action<IMatrixProducts> action)
    {
        var products = Create();
        try
        {
            action(products);
        }
        finally
        {
            (products as IDisposable)?.Dispose();
        }
    }

    private static double[] Reference(Product product, float[] a, float[] b, int m, int n, int k)
    {
        var c = new double[m * n];
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var sum = 0.0;
                for (var p = 0; p < k; p++)
                {
                    var x = product == Product.AtB ? a[p * m + i] : a[i * k + p];
                    var y = product == Product.ABt ? b[j * k + p] : b[p * n + j];
                    sum += (double)x * y;
                }

                c[i * n + j] = sum;
            }
        }

        return c;
    }

    private static float[] Filled(int length, float value)
    {
        var values = new float[length];
        Array.Fill(values, value);
        return values;
    }

    private static double MaxAbs(float[] values) => values.Length == 0 ? 0 : values.Max(Math.Abs);
}

public sealed class FastMatrixProductsTests : MatrixProductContract
{
    protected override IMatrixProducts Create() => new FastMatrixProducts(1);
}

public sealed class FastMatrixProductsTwoThreadTests : MatrixProductContract
{
    protected override IMatrixProducts Create() => new FastMatrixProducts(2);
}

// The two kernel widths are forced so both are checked on any CPU (where a width is not
// accelerated, .NET emulates its vectors: slow, but the same arithmetic).
public sealed class FastMatrixProductsVector512Tests : MatrixProductContract
{
    protected override IMatrixProducts Create() => new FastMatrixProducts(new WorkerPool(2), ownsPool: true, wide: true);
}

public sealed class FastMatrixProductsVector256Tests : MatrixProductContract
{
    protected override IMatrixProducts Create() => new FastMatrixProducts(new WorkerPool(2), ownsPool: true, wide: false);
}

public sealed class NaiveMatrixProductsTests : MatrixProductContract
{
    protected override IMatrixProducts Create() => new NaiveMatrixProducts();
}
