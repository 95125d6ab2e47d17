using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;
using Hybrid.Engine.Tests.Training;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Kernels;

/// <summary>The kernels that split their buffers between threads give the bits of one thread.</summary>
public sealed class FastElementwiseDeterminismTests
{
    private static readonly FastElementwise Single = new();
    private static readonly FastElementwise Pair = new(FastElementwiseTwoThreadTests.Pool, parallelThreshold: 1);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(5, 45)]
    [InlineData(128, 256)]
    public void BiasTanhSplitByRowsGivesTheBitsOfOne(int rows, int n)
    {
        var rng = new Rng(3);
        var a = OptimizerContract.Draw(rng, rows * n, 2.0);
        var bias = OptimizerContract.Draw(rng, n, 1.0);
        var (one, two) = (new float[rows * n], new float[rows * n]);

        Single.BiasTanh(a, bias, one, rows);
        Pair.BiasTanh(a, bias, two, rows);

        Assert.Equal(Bits(one), Bits(two));
    }

    // (rows, columns): the optimizer cuts a tensor between threads in blocks of 32 whole rows.
    public static TheoryData<int, int> Tensors => new() { { 1, 1 }, { 17, 1 }, { 15, 3 }, { 77, 13 }, { 100, 45 } };

    [Theory]
    [MemberData(nameof(Tensors))]
    public void SgdStepSplitGivesTheBitsOfOne(int rows, int columns)
    {
        var n = rows * columns;
        var rng = new Rng(5);
        var g = OptimizerContract.Draw(rng, n, 1.0);
        var (p1, v1) = (OptimizerContract.Draw(rng, n, 1.0), OptimizerContract.Draw(rng, n, 1.0));
        var (p2, v2) = ((float[])p1.Clone(), (float[])v1.Clone());

        Single.SgdStep(p1, g, v1, columns, 0.1f, 0.9f, nesterov: true);
        Pair.SgdStep(p2, g, v2, columns, 0.1f, 0.9f, nesterov: true);

        Assert.Equal(Bits(p1), Bits(p2));
        Assert.Equal(Bits(v1), Bits(v2));
    }

    [Theory]
    [MemberData(nameof(Tensors))]
    public void AdamStepSplitGivesTheBitsOfOne(int rows, int columns)
    {
        var n = rows * columns;
        var rng = new Rng(9);
        var g = OptimizerContract.Draw(rng, n, 1.0);
        var (p1, m1, v1) = (OptimizerContract.Draw(rng, n, 1.0), OptimizerContract.Draw(rng, n, 0.1), OptimizerContract.Draw(rng, n, 0.1));
        Array.ConvertAll(v1, Math.Abs).CopyTo(v1, 0);
        var (p2, m2, v2) = ((float[])p1.Clone(), (float[])m1.Clone(), (float[])v1.Clone());
        var c = new AdamCoefficients(1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.002f, 0.01f);

        Single.AdamStep(p1, g, m1, v1, columns, c);
        Pair.AdamStep(p2, g, m2, v2, columns, c);

        Assert.Equal(Bits(p1), Bits(p2));
        Assert.Equal(Bits(m1), Bits(m2));
        Assert.Equal(Bits(v1), Bits(v2));
    }

    [Theory]
    [MemberData(nameof(Tensors))]
    public void AddScaledSplitGivesTheBitsOfOne(int rows, int columns)
    {
        var rng = new Rng(11);
        var (g1, w) = (OptimizerContract.Draw(rng, rows * columns, 1.0), OptimizerContract.Draw(rng, rows * columns, 1.0));
        var g2 = (float[])g1.Clone();

        Single.AddScaled(g1, w, columns, 3e-4f);
        Pair.AddScaled(g2, w, columns, 3e-4f);

        Assert.Equal(Bits(g1), Bits(g2));
    }

    private static int[] Bits(float[] values) => Array.ConvertAll(values, BitConverter.SingleToInt32Bits);
}
