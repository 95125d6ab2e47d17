namespace Hybrid.Engine.Kernels;

/// <summary>
/// The three matrix products backpropagation needs. Every matrix is row-major and contiguous.
/// With <c>accumulate</c> false the product overwrites <c>c</c>; with true it is added to <c>c</c>.
/// Implementations must give bit-identical results whatever their thread count: work is split
/// along m or n, never along k, so every sum is taken in the same order. The <see cref="Epilogue"/>
/// runs on the finished c (after accumulating, when asked to).
/// </summary>
public interface IMatrixProducts
{
    // a: (m, k)  b: (n, k)  →  c: (m, n)      c = a·bᵀ   (forward: X·Wᵀ)
    void MultiplyABt(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default);

    // a: (k, m)  b: (k, n)  →  c: (m, n)      c = aᵀ·b   (weight gradient: dYᵀ·X)
    void MultiplyAtB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default);

    // a: (m, k)  b: (k, n)  →  c: (m, n)      c = a·b    (input gradient: dY·W)
    void MultiplyAB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default);
}
