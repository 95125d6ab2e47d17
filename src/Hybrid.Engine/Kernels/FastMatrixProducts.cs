namespace Hybrid.Engine.Kernels;



/// <summary>Temporary naive products until the packed kernels land.</summary>
public sealed class FastMatrixProducts(int threads) : IMatrixProducts
{
    public int Threads { get; } = threads;
    public void MultiplyABt(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate)
    {
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                var sum = 0f;
                for (var p = 0; p < k; p++) sum += a[i * k + p] * b[j * k + p];
                c[i * n + j] = accumulate ? c[i * n + j] + sum : sum;
            }
    }

    public void MultiplyAtB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate)
    {
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                var sum = 0f;
                for (var p = 0; p < k; p++) sum += a[p * m + i] * b[p * n + j];
                c[i * n + j] = accumulate ? c[i * n + j] + sum : sum;
            }
    }

    public void MultiplyAB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate)
    {
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
            {
                var sum = 0f;
                for (var p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
                c[i * n + j] = accumulate ? c[i * n + j] + sum : sum;
            }
    }
}
