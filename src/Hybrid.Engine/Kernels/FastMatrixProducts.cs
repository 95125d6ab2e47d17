using System.Runtime.CompilerServices;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// Packed, register-blocked products (see <see cref="PackedGemm"/>) shared between the threads of a
/// <see cref="WorkerPool"/>. C is cut into one rectangle per thread along m or n at tile boundaries,
/// never along k, so every thread count gives the same bits. Pack buffers are kept between calls and
/// only grow, so a steady stream of products allocates nothing. Not safe for concurrent calls.
/// <para>
/// Cuts fall on multiples of <see cref="CutGrain"/> in both directions, so a weight's rows are cut in
/// the same place whether they are n (the forward product x·wᵀ) or m (its gradient dYᵀ·x), and the
/// optimizer cuts them there too (<see cref="FastElementwise.SgdStep"/>): with the pool's fixed
/// part-to-thread assignment, each core packs, differentiates and updates the same rows of every
/// weight, and no weight or gradient crosses between cores.
/// </para>
/// </summary>
public sealed unsafe class FastMatrixProducts : IMatrixProducts, IDisposable
{
    // Below this many multiply-adds a second core does not pay for itself: besides the fork/join round
    // trip (~0.5 µs), each thread packs its own copy of the shared operand, and on this machine the
    // digits-sized products (128×64×64, 5·10⁵) ran 25% slower on two threads than on one.
    private const long ParallelThreshold = 1L << 20;

    /// <summary>Rows or columns per unit of a cut: a B micro-panel's width, four A panels.</summary>
    internal const int CutGrain = MicroKernel.Cols;

    private readonly WorkerPool _pool;
    private readonly bool _ownsPool;
    private readonly bool _wide;
    private readonly Workspace[] _workspaces;

    /// <summary>Owns a pool of <paramref name="threads"/> threads, disposed with this instance.</summary>
    public FastMatrixProducts(int threads)
        : this(new WorkerPool(threads), ownsPool: true, PackedGemm.WideByDefault)
    {
    }

    /// <summary>Shares <paramref name="pool"/>, which the caller keeps and disposes.</summary>
    public FastMatrixProducts(WorkerPool pool)
        : this(pool, ownsPool: false, PackedGemm.WideByDefault)
    {
    }

    /// <summary><paramref name="wide"/> false forces the 256-bit kernel, so tests reach it on any CPU.</summary>
    internal FastMatrixProducts(WorkerPool pool, bool ownsPool, bool wide)
    {
        ArgumentNullException.ThrowIfNull(pool);
        _pool = pool;
        _ownsPool = ownsPool;
        _wide = wide;
        _workspaces = new Workspace[pool.Threads];
        for (var i = 0; i < _workspaces.Length; i++) _workspaces[i] = new Workspace();
    }

    public int Threads => _pool.Threads;

    // a: (m, k)  b: (n, k)  →  c: (m, n)      c = a·bᵀ
    public void MultiplyABt(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default)
    {
        ProductArguments.Validate(a.Length, (m, k), b.Length, (n, k), c.Length, m, n, k);
        epilogue.Validate(m, n);
        fixed (float* pa = a, pb = b, pc = c, bias = epilogue.Bias, operand = epilogue.Operand, output = epilogue.Output)
        {
            var fused = new FusedEpilogue(epilogue.Kind, bias, operand, output);
            Multiply(new GemmOperands(pa, OperandLayout.RowsAlongK, pb, OperandLayout.RowsAlongK, pc, m, n, k, accumulate, fused));
        }
    }

    // a: (k, m)  b: (k, n)  →  c: (m, n)      c = aᵀ·b
    public void MultiplyAtB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default)
    {
        ProductArguments.Validate(a.Length, (k, m), b.Length, (k, n), c.Length, m, n, k);
        epilogue.Validate(m, n);
        fixed (float* pa = a, pb = b, pc = c, bias = epilogue.Bias, operand = epilogue.Operand, output = epilogue.Output)
        {
            var fused = new FusedEpilogue(epilogue.Kind, bias, operand, output);
            // A weight gradient: cut along its rows, the rows of w each thread packed in the forward product.
            Multiply(new GemmOperands(pa, OperandLayout.RowsAcrossK, pb, OperandLayout.RowsAcrossK, pc, m, n, k, accumulate, fused), alongRows: true);
        }
    }

    // a: (m, k)  b: (k, n)  →  c: (m, n)      c = a·b
    public void MultiplyAB(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int m, int n, int k, bool accumulate, Epilogue epilogue = default)
    {
        ProductArguments.Validate(a.Length, (m, k), b.Length, (k, n), c.Length, m, n, k);
        epilogue.Validate(m, n);
        fixed (float* pa = a, pb = b, pc = c, bias = epilogue.Bias, operand = epilogue.Operand, output = epilogue.Output)
        {
            var fused = new FusedEpilogue(epilogue.Kind, bias, operand, output);
            Multiply(new GemmOperands(pa, OperandLayout.RowsAlongK, pb, OperandLayout.RowsAcrossK, pc, m, n, k, accumulate, fused));
        }
    }

    public void Dispose()
    {
        if (_ownsPool) _pool.Dispose();
    }

    private void Multiply(in GemmOperands op, bool alongRows = false)
    {
        if (op.M == 0 || op.N == 0) return;
        if (op.K == 0)
        {
            PackedGemm.Empty(op);
            return;
        }

        var job = new GemmJob(op, _workspaces, _wide, Split(op, alongRows));
        var kc = PackedGemm.KBlocks(op.K).Kc;
        for (var part = 0; part < job.Parts; part++)
        {
            var (i0, i1, j0, j1) = job.Range(part);
            _workspaces[part].Reserve(PackedGemm.WorkspaceFloats(i1 - i0, j1 - j0, kc));
        }

        _pool.Run(ref job, job.Parts);
    }

    private (bool AlongN, int Parts) Split(in GemmOperands op, bool alongRows)
    {
        var blocksM = (op.M + CutGrain - 1) / CutGrain;
        var blocksN = (op.N + CutGrain - 1) / CutGrain;
        if (_pool.Threads == 1 || (long)op.M * op.N * op.K < ParallelThreshold) return (true, 1);
        if (alongRows && blocksM >= 2) return (false, Math.Min(_pool.Threads, blocksM));

        // Every thread packs all of the operand that is not split, so split the one whose other
        // operand is cheaper to pack twice, if it has enough blocks to go round.
        var alongN = op.M <= op.N ? blocksN >= 2 : blocksM < 2;
        return (alongN, Math.Min(_pool.Threads, alongN ? blocksN : blocksM));
    }

    private readonly struct GemmJob : IParallelJob
    {
        private readonly GemmOperands _op;
        private readonly Workspace[] _workspaces;
        private readonly bool _wide;
        private readonly bool _alongN;

        public GemmJob(in GemmOperands op, Workspace[] workspaces, bool wide, (bool AlongN, int Parts) split)
        {
            _op = op;
            _workspaces = workspaces;
            _wide = wide;
            (_alongN, Parts) = split;
        }

        public int Parts { get; }

        public void Execute(int part)
        {
            var (i0, i1, j0, j1) = Range(part);
            PackedGemm.Run(_op, i0, i1, j0, j1, _workspaces[part].Pointer, _wide);
        }

        /// <summary>Part <paramref name="part"/>'s rectangle of C, cut at whole blocks of <see cref="CutGrain"/>.</summary>
        public (int I0, int I1, int J0, int J1) Range(int part)
        {
            if (_alongN)
            {
                var (j0, j1) = Cut(_op.N, part);
                return (0, _op.M, j0, j1);
            }

            var (i0, i1) = Cut(_op.M, part);
            return (i0, i1, 0, _op.N);
        }

        // The same arithmetic as RangeJob with a grain of CutGrain, which the optimizer uses.
        private (int Start, int End) Cut(int length, int part)
        {
            var blocks = (length + CutGrain - 1) / CutGrain;
            var start = (int)((long)blocks * part / Parts) * CutGrain;
            var end = (int)((long)blocks * (part + 1) / Parts) * CutGrain;
            return (start, Math.Min(end, length));
        }
    }

    /// <summary>One worker's pack buffers: pinned, 64-byte aligned, grown only for a larger problem.</summary>
    private sealed class Workspace
    {
        private const int Alignment = 64;
        private float[] _buffer = [];

        public float* Pointer { get; private set; }

        public void Reserve(long floats)
        {
            if (floats + Alignment / sizeof(float) <= _buffer.Length) return;
            _buffer = GC.AllocateUninitializedArray<float>(checked((int)floats + Alignment / sizeof(float)), pinned: true);
            var address = (nint)Unsafe.AsPointer(ref _buffer[0]);
            Pointer = (float*)((address + Alignment - 1) & ~(nint)(Alignment - 1));
        }
    }
}
