namespace Hybrid.Engine.Kernels;

/// <summary>
/// The matrix products and element-wise kernels a network runs on: the fast SIMD set, or the naive
/// twin that every fast kernel is tested against (<c>NaiveKernels.Create</c> in Reference). Owns the product's worker threads.
/// </summary>
public sealed class KernelSet(IMatrixProducts products, IElementwiseKernels elementwise) : IDisposable
{
    public IMatrixProducts Products { get; } = products;

    public IElementwiseKernels Elementwise { get; } = elementwise;

    /// <param name="threads">threads for the matrix products (the caller's included); results are bit-identical for any count</param>
    public static KernelSet Fast(int threads = 1)
    {
        var pool = new WorkerPool(threads);
        return new(new FastMatrixProducts(pool, ownsPool: true, PackedGemm.WideByDefault), new FastElementwise(pool));
    }

    public void Dispose() => (Products as IDisposable)?.Dispose();
}
