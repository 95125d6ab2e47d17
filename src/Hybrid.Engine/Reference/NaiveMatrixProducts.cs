using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Reference;

/// <summary>
/// The obviously right triple loops, summing in float in natural k order, then the epilogue as a
/// separate naive element-wise pass: the slow twin that the same contract tests run against.
/// </summary>
public sealed class NaiveMatrixProducts : IMatrixProducts
{
    private static readonly NaiveElementwise Elementwise = new();

    // a: (m, k)  b: (n, k)  →  c: (m, n)      c = a·bᵀ
    public void MultiplyABt(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default)
    {
        ProductArguments.Validate(a.Length, (m, k), b.Length, (n, k), c.Length, m, n, k);
        epilogue.Validate(m, n);
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var sum = 0f;
                for (var p = 0; p < k; p++) sum += a[i * k + p] * b[j * k + p];
                Store(c, i * n + j, sum, accumulate);
            }
        }

        epilogue.Apply(Elementwise, c, m, n);
    }

    // a: (k, m)  b: (k, n)  →  c: (m, n)      c = aᵀ·b
    public void MultiplyAtB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default)
    {
        ProductArguments.Validate(a.Length, (k, m), b.Length, (k, n), c.Length, m, n, k);
        epilogue.Validate(m, n);
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var sum = 0f;
                for (var p = 0; p < k; p++) sum += a[p * m + i] * b[p * n + j];
                Store(c, i * n + j, sum, accumulate);
            }
        }

        epilogue.Apply(Elementwise, c, m, n);
    }

    // a: (m, k)  b: (k, n)  →  c: (m, n)      c = a·b
    public void MultiplyAB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default)
    {
        ProductArguments.Validate(a.Length, (m, k), b.Length, (k, n), c.Length, m, n, k);
        epilogue.Validate(m, n);
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var sum = 0f;
                for (var p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
                Store(c, i * n + j, sum, accumulate);
            }
        }

        epilogue.Apply(Elementwise, c, m, n);
    }

    private static void Store(Span<float> c, int index, float sum, bool accumulate) =>
        c[index] = accumulate ? c[index] + sum : sum;
}
