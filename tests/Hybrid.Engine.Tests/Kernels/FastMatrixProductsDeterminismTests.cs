using Hybrid.Engine.Kernels;
using Hybrid.Engine.Model;
using Hybrid.Engine.Training;

namespace Hybrid.Engine.Tests.Kernels;

/// <summary>What only the fast products promise: the same bits on any thread count, and no allocation.</summary>
public sealed class FastMatrixProductsDeterminismTests
{
    public static TheoryData<Product, int, int, int> ThreadedShapes()
    {
        var data = new TheoryData<Product, int, int, int>();
        (int M, int N, int K)[] shapes = [(128, 256, 784), (256, 784, 128), (45, 65, 33), (10, 128, 128), (128, 10, 128), (300, 40, 20)];
        foreach (var (m, n, k) in shapes)
        {
            foreach (var product in Enum.GetValues<Product>()) data.Add(product, m, n, k);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ThreadedShapes))]
    public void TwoThreadsGiveTheBitsOfOne(Product product, int m, int n, int k) =>
        Assert.Equal(
            ProductBits(new FastMatrixProducts(1), product, m, n, k),
            ProductBits(new FastMatrixProducts(2), product, m, n, k));

    // The micro-kernel's width must not change a bit either: k > 256 is cut into blocks, and the cut
    // once depended on the width.
    [Theory]
    [MemberData(nameof(ThreadedShapes))]
    public void The256BitKernelGivesTheBitsOfThe512BitKernel(Product product, int m, int n, int k) =>
        Assert.Equal(
            ProductBits(new FastMatrixProducts(new WorkerPool(1), ownsPool: true, wide: true), product, m, n, k),
            ProductBits(new FastMatrixProducts(new WorkerPool(1), ownsPool: true, wide: false), product, m, n, k));

    public static TheoryData<EpilogueKind, Product, int, bool> FusionCases()
    {
        var data = new TheoryData<EpilogueKind, Product, int, bool>();
        foreach (var kind in Enum.GetValues<EpilogueKind>())
        {
            foreach (var product in Enum.GetValues<Product>())
            {
                foreach (var threads in new[] { 1, 2 })
                {
                    data.Add(kind, product, threads, true);
                    data.Add(kind, product, threads, false);
                }
            }
        }

        return data;
    }

    // Each core runs the epilogue on its own rectangle of c; the bits must be those of the whole
    // product followed by the element-wise kernel's separate pass over all of c, on one thread.
    [Theory]
    [MemberData(nameof(FusionCases))]
    public void AFusedEpilogueGivesTheBitsOfTheSeparatePass(EpilogueKind kind, Product product, int threads, bool wide)
    {
        foreach (var (m, n, k) in new[] { (128, 256, 784), (45, 65, 33), (300, 40, 20), (256, 784, 128) })
        {
            var rng = new Rng(13);
            var (a, b) = (MatrixProductContract.Uniform(rng, m * k), MatrixProductContract.Uniform(rng, n * k));
            var (bias, operand) = (MatrixProductContract.Uniform(rng, n), MatrixProductContract.Uniform(rng, m * n));
            var (fused, fusedOutput) = (new float[m * n], new float[m * n]);
            var (separate, separateOutput) = (new float[m * n], new float[m * n]);

            using (var products = new FastMatrixProducts(new WorkerPool(threads), ownsPool: true, wide))
                MatrixProductContract.Call(products, product, a, b, fused, m, n, k, false, MatrixProductContract.EpilogueOf(kind, bias, operand, fusedOutput));
            using (var products = new FastMatrixProducts(new WorkerPool(1), ownsPool: true, wide))
                MatrixProductContract.Call(products, product, a, b, separate, m, n, k, false);
            MatrixProductContract.EpilogueOf(kind, bias, operand, separateOutput).Apply(new FastElementwise(), separate, m, n);

            Assert.Equal(Bits(separate), Bits(fused));
            Assert.Equal(Bits(separateOutput), Bits(fusedOutput));
        }
    }

    public static TheoryData<Product, int> AllocationCases()
    {
        var data = new TheoryData<Product, int>();
        foreach (var product in Enum.GetValues<Product>())
        {
            data.Add(product, 1);
            data.Add(product, 2);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllocationCases))]
    public void SteadyStateAllocatesNothing(Product product, int threads)
    {
        const int m = 128, n = 256, k = 784;
        var rng = new Rng(11);
        var a = MatrixProductContract.Uniform(rng, m * k);
        var b = MatrixProductContract.Uniform(rng, n * k);
        var c = new float[m * n];
        using var products = new FastMatrixProducts(threads);
        for (var i = 0; i < 3; i++) MatrixProductContract.Call(products, product, a, b, c, m, n, k, accumulate: false);

        // A garbage collection started by a test on another thread can retire this thread's
        // allocation context mid-measurement and show up as a few stray bytes, so take the least of
        // a few trials: an allocation made by the products would appear in every one.
        var least = long.MaxValue;
        for (var trial = 0; trial < 5 && least > 0; trial++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 20; i++) MatrixProductContract.Call(products, product, a, b, c, m, n, k, accumulate: i > 0);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(0, least);
    }

    private static int[] Bits(float[] values) => Array.ConvertAll(values, BitConverter.SingleToInt32Bits);

    // The bits of C + op(A)·op(B) for the same random operands every call; disposes the products.
    private static int[] ProductBits(FastMatrixProducts products, Product product, int m, int n, int k)
    {
        using (products)
        {
            var rng = new Rng(7);
            var a = MatrixProductContract.Uniform(rng, m * k);
            var b = MatrixProductContract.Uniform(rng, n * k);
            var c = MatrixProductContract.Uniform(rng, m * n);
            MatrixProductContract.Call(products, product, a, b, c, m, n, k, accumulate: true);
            return Bits(c);
        }
    }
}
