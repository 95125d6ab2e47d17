using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// The element-wise kernels on SIMD vectors, through the one dispatch loop in <see cref="Vectorized"/>.
/// A training step runs the activations inside the products (<see cref="Epilogue"/>); these are their
/// separate passes. Given a <see cref="WorkerPool"/>, the large ones (tanh, gathering the batch,
/// clearing, weight decay and the optimizer update) share their buffers between its threads, cut at
/// whole rows or whole vectors: the same bits for any thread count. Weight decay and the optimizer
/// cut where the products cut (see <see cref="FastMatrixProducts"/>).
/// </summary>
public sealed unsafe class FastElementwise : IElementwiseKernels
{
    // Below this many elements the fork/join (~1 µs) costs more than the second thread saves.
    private const int ParallelThreshold = 1 << 14;

    // A multiple of every vector width Vectorized and OptimizerSteps use.
    private const int VectorGrain = 16;

    private readonly WorkerPool? _pool;
    private readonly int _parallelThreshold;

    /// <summary>Runs every kernel on the calling thread.</summary>
    public FastElementwise()
        : this(null, int.MaxValue)
    {
    }

    /// <summary>Shares <paramref name="pool"/>, which the caller keeps and disposes.</summary>
    public FastElementwise(WorkerPool pool)
        : this(pool ?? throw new ArgumentNullException(nameof(pool)), ParallelThreshold)
    {
    }

    /// <summary><paramref name="parallelThreshold"/> 1 splits even tiny buffers, so tests reach the split path.</summary>
    internal FastElementwise(WorkerPool? pool, int parallelThreshold)
    {
        _pool = pool;
        _parallelThreshold = parallelThreshold;
    }

    public void BiasTanh(ReadOnlySpan<float> a, ReadOnlySpan<float> bias, Span<float> z, int rows)
    {
        var n = bias.Length;
        Shapes.Require(a, rows * n, nameof(a));
        Shapes.Require(z, rows * n, nameof(z));
        fixed (float* pa = a, pb = bias, pz = z)
        {
            Split(new BiasTanhRows(pa, pb, pz, n), rows, grain: 1, (long)rows * n);
        }
    }

    public void TanhBackward(ReadOnlySpan<float> dZ, ReadOnlySpan<float> z, Span<float> dA) =>
        Vectorized.Map(new TanhGradient(), dZ, z, dA);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void BiasReluPlus(Span<float> a, ReadOnlySpan<float> bias, ReadOnlySpan<float> s, Span<float> z, int rows)
    {
        var n = bias.Length;
        Shapes.Require(a, rows * n, nameof(a));
        Shapes.Require(s, rows * n, nameof(s));
        Shapes.Require(z, rows * n, nameof(z));
        for (var r = 0; r < rows; r++)
        {
            var row = a.Slice(r * n, n);
            Vectorized.Map(new Add(), row, bias, row);
            Vectorized.Map(new ReluPlus(), row, s.Slice(r * n, n), z.Slice(r * n, n));
        }
    }

    public void ReluBackward(ReadOnlySpan<float> dZ, ReadOnlySpan<float> a, Span<float> dA) =>
        Vectorized.Map(new ReluGradient(), dZ, a, dA);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AddRowSums(ReadOnlySpan<float> x, Span<float> sums, int rows)
    {
        var n = sums.Length;
        Shapes.Require(x, rows * n, nameof(x));
        for (var r = 0; r < rows; r++)
            Vectorized.Map(new Add(), sums, x.Slice(r * n, n), sums);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ScaleColumns(ReadOnlySpan<float> x, int d, ReadOnlySpan<float> w, Span<float> s, int rows, int n)
    {
        var k = Shapes.DiagonalWidth(w, d, n);
        Shapes.Require(x, rows * d, nameof(x));
        Shapes.Require(s, rows * n, nameof(s));
        for (var r = 0; r < rows; r++)
        {
            var row = s.Slice(r * n, n);
            Vectorized.Map(new Multiply(), x.Slice(r * d, k), w, row[..k]);
            row[k..].Clear();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ScaleColumnsBackward(ReadOnlySpan<float> dS, int n, ReadOnlySpan<float> x, int d, ReadOnlySpan<float> w, Span<float> dW, Span<float> dX, int rows)
    {
        var k = Shapes.DiagonalWidth(w, d, n);
        Shapes.Require(dS, rows * n, nameof(dS));
        Shapes.Require(x, rows * d, nameof(x));
        Shapes.Require(dW, k, nameof(dW));
        for (var r = 0; r < rows; r++)
        {
            var dSRow = dS.Slice(r * n, k);
            Vectorized.Map(new MultiplyAdd(), dSRow, x.Slice(r * d, k), dW[..k], dW[..k]);
            if (!dX.IsEmpty)
            {
                var dXRow = dX.Slice(r * d, k);
                Vectorized.Map(new MultiplyAdd(), dSRow, w, dXRow, dXRow);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double BiasSoftmaxCrossEntropy(Span<float> logits, ReadOnlySpan<float> bias, ReadOnlySpan<int> labels, int rows)
    {
        var p = bias.Length;
        Shapes.Require(logits, rows * p, nameof(logits));
        var total = 0.0;
        for (var r = 0; r < rows; r++)
        {
            var row = logits.Slice(r * p, p);
            Vectorized.Map(new Add(), row, bias, row);
            var max = Max(row);
            var label = labels.IsEmpty ? -1 : Softmax.RequireLabel(labels[r], p, r);
            var shiftedLabelLogit = label < 0 ? 0f : row[label] - max;
            Vectorized.Map(new ShiftedExp(max), row, row);
            var sum = Sum(row);
            Vectorized.Map(new Scale(1f / sum), row, row);
            if (label >= 0) total += Softmax.RowLoss(sum, shiftedLabelLogit);
        }
        return total;
    }

    public void SoftmaxCrossEntropyBackward(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, Span<float> dLogits, int rows, float scale) =>
        Softmax.Backward(probabilities, labels, dLogits, rows, scale);

    public void GatherRows(ReadOnlySpan<float> source, int columns, ReadOnlySpan<int> rows, Span<float> destination)
    {
        Shapes.RequireRows(source.Length, columns);
        Shapes.Require(destination, rows.Length * columns, nameof(destination));
        fixed (float* src = source, dst = destination)
        fixed (int* indices = rows)
        {
            Split(new GatherRange(src, source.Length / columns, columns, indices, dst), rows.Length, grain: 1, (long)rows.Length * columns);
        }
    }

    public void Clear(Span<float> x)
    {
        fixed (float* px = x)
        {
            Split(new ClearRange(px), x.Length, VectorGrain, x.Length);
        }
    }

    public void AddScaled(Span<float> g, ReadOnlySpan<float> w, int columns, float scale)
    {
        Shapes.RequireRows(g.Length, columns);
        Shapes.Require(w, g.Length, nameof(w));
        fixed (float* pg = g, pw = w)
        {
            Split(new AddScaledRange(pg, pw, scale), g.Length, RowBlock(columns), g.Length);
        }
    }

    public void SgdStep(Span<float> p, ReadOnlySpan<float> g, Span<float> v, int columns, float learningRate, float momentum, bool nesterov)
    {
        OptimizerSteps.RequireSameLength(p.Length, g.Length, v.Length, 0);
        Shapes.RequireRows(p.Length, columns);
        fixed (float* pp = p, pg = g, pv = v)
        {
            Split(new SgdRange(pp, pg, pv, learningRate, momentum, nesterov), p.Length, RowBlock(columns), p.Length);
        }
    }

    public void AdamStep(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, int columns, in AdamCoefficients c)
    {
        OptimizerSteps.RequireSameLength(p.Length, g.Length, m.Length, v.Length);
        Shapes.RequireRows(p.Length, columns);
        fixed (float* pp = p, pg = g, pm = m, pv = v)
        {
            Split(new AdamRange(pp, pg, pm, pv, c), p.Length, RowBlock(columns), p.Length);
        }
    }

    // The products cut a weight's rows in blocks of CutGrain, so the optimizer does too: each thread
    // updates the rows whose gradient it computed. A block is a multiple of VectorGrain elements.
    private static int RowBlock(int columns) => FastMatrixProducts.CutGrain * columns;

    private void Split<TBody>(TBody body, int count, int grain, long elements) where TBody : struct, IRangeBody
    {
        if (_pool is null || _pool.Threads == 1 || elements < _parallelThreshold)
        {
            body.Run(0, count);
            return;
        }

        var job = new RangeJob<TBody>(body, count, grain, _pool.Threads);
        _pool.Run(ref job, job.Parts);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Max(ReadOnlySpan<float> row)
    {
        var max = float.NegativeInfinity;
        foreach (var value in row) max = MathF.Max(max, value);
        return max;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Sum(ReadOnlySpan<float> row)
    {
        var sum = 0f;
        foreach (var value in row) sum += value;
        return sum;
    }

    private readonly struct BiasTanhRows(float* a, float* bias, float* z, int n) : IRangeBody
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            var b = new ReadOnlySpan<float>(bias, n);
            for (var r = start; r < end; r++)
                Vectorized.Map(new TanhOfSum(), new ReadOnlySpan<float>(a + (long)r * n, n), b, new Span<float>(z + (long)r * n, n));
        }
    }

    private readonly struct GatherRange(float* source, int sourceRows, int columns, int* rows, float* destination) : IRangeBody
    {
        public void Run(int start, int end)
        {
            var indices = new ReadOnlySpan<int>(rows, end);
            for (var r = start; r < end; r++)
            {
                var row = Shapes.RowIndex(indices, r, sourceRows);
                new ReadOnlySpan<float>(source + (long)row * columns, columns).CopyTo(new Span<float>(destination + (long)r * columns, columns));
            }
        }
    }

    private readonly struct ClearRange(float* x) : IRangeBody
    {
        public void Run(int start, int end) => new Span<float>(x + start, end - start).Clear();
    }

    private readonly struct AddScaledRange(float* g, float* w, float scale) : IRangeBody
    {
        public void Run(int start, int end)
        {
            var gs = new Span<float>(g + start, end - start);
            Vectorized.Map(new AddScaled(scale), gs, new ReadOnlySpan<float>(w + start, end - start), gs);
        }
    }

    private readonly struct SgdRange(float* p, float* g, float* v, float learningRate, float momentum, bool nesterov) : IRangeBody
    {
        public void Run(int start, int end) =>
            OptimizerSteps.Sgd(new Span<float>(p + start, end - start), new ReadOnlySpan<float>(g + start, end - start),
                new Span<float>(v + start, end - start), learningRate, momentum, nesterov);
    }

    private readonly struct AdamRange(float* p, float* g, float* m, float* v, AdamCoefficients c) : IRangeBody
    {
        public void Run(int start, int end) =>
            OptimizerSteps.Adam(new Span<float>(p + start, end - start), new ReadOnlySpan<float>(g + start, end - start),
                new Span<float>(m + start, end - start), new Span<float>(v + start, end - start), c);
    }
}
