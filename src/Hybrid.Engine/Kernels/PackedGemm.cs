using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>How an operand is laid out relative to the summed dimension k.</summary>
internal enum OperandLayout
{
    /// <summary>Element (i, p) at <c>i·ld + p</c>: each row runs along k (a in a·bᵀ, b in a·bᵀ, a in a·b).</summary>
    RowsAlongK,

    /// <summary>Element (i, p) at <c>p·ld + i</c>: each row is one k step (a in aᵀ·b, b in aᵀ·b and a·b).</summary>
    RowsAcrossK,
}

/// <summary>Pinned pointers and shape of one product c (m × n) = op(a) (m × k) · op(b) (k × n), and its epilogue.</summary>
internal readonly unsafe struct GemmOperands
{
    public readonly float* A;
    public readonly float* B;
    public readonly float* C;
    public readonly OperandLayout ALayout;
    public readonly OperandLayout BLayout;
    public readonly int M;
    public readonly int N;
    public readonly int K;
    public readonly bool Accumulate;
    public readonly FusedEpilogue Epilogue;

    public GemmOperands(float* a, OperandLayout aLayout, float* b, OperandLayout bLayout, float* c, int m, int n, int k, bool accumulate, FusedEpilogue epilogue)
    {
        A = a;
        B = b;
        C = c;
        ALayout = aLayout;
        BLayout = bLayout;
        M = m;
        N = n;
        K = k;
        Accumulate = accumulate;
        Epilogue = epilogue;
    }
}

/// <summary>
/// BLIS-style blocking of one rectangle of C, loop order jc → pc → ic → jr → ir: a k block of B
/// (≤ <see cref="NC"/> columns) is packed once and stays in L2/L3, an MC × kc block of A is packed
/// into L2, and each 32-wide B micro-panel stays in L1 while the 8-tall A panels stream past it.
/// </summary>
internal static unsafe class PackedGemm
{
    public const int MC = 128;
    public const int NC = 2048;

    /// <summary>True when the 512-bit kernel should run on this CPU.</summary>
    public static bool WideByDefault => Vector512.IsHardwareAccelerated;

    /// <summary>
    /// The deepest k block: the 32 × kc B micro-panel (32 KB) sits in the 48 KB L1 of AVX-512 cores
    /// beside the A panels streaming past it. The same on every CPU, because the cut decides the
    /// rounding: each block's sum is added to C, so another cut would give other bits. (On a 32 KB L1
    /// the panel spills to L2; 128 suited those cores better, but only one cut can be the same everywhere.)
    /// </summary>
    public const int MaxKc = 256;

    /// <summary>Floats one worker needs to pack its share of a problem.</summary>
    public static long WorkspaceFloats(int rows, int cols, int kc) =>
        (long)RoundUp(Math.Min(rows, MC), MicroKernel.Rows) * kc
        + (long)RoundUp(Math.Min(cols, NC), MicroKernel.Cols) * kc
        + MicroKernel.Rows * MicroKernel.Cols;

    /// <summary>
    /// k is cut into equal blocks (784 = 4 × 196) rather than 256 + 256 + 256 + 16, so no block is
    /// too thin to amortise its packing. The cut depends on k alone, never on the thread count or
    /// the vector width.
    /// </summary>
    public static (int Blocks, int Kc) KBlocks(int k)
    {
        var blocks = (k + MaxKc - 1) / MaxKc;
        return (blocks, (k + blocks - 1) / blocks);
    }

    /// <summary>Computes rows [i0, i1) × columns [j0, j1) of C; <paramref name="work"/> holds <see cref="WorkspaceFloats"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(in GemmOperands op, int i0, int i1, int j0, int j1, float* work, bool wide)
    {
        var (blocks, kcMax) = KBlocks(op.K);
        var aPack = work;
        var bPack = aPack + (long)RoundUp(Math.Min(i1 - i0, MC), MicroKernel.Rows) * kcMax;
        var edge = bPack + (long)RoundUp(Math.Min(j1 - j0, NC), MicroKernel.Cols) * kcMax;
        for (var jc = j0; jc < j1; jc += NC)
        {
            var nc = Math.Min(NC, j1 - jc);
            for (int block = 0, pc = 0; block < blocks; block++)
            {
                // The first blocks take one extra k step each when k does not divide evenly.
                var kc = op.K / blocks + (block < op.K % blocks ? 1 : 0);
                PackB(op, jc, nc, pc, kc, bPack);
                var add = op.Accumulate || block > 0;
                for (var ic = i0; ic < i1; ic += MC)
                {
                    var mc = Math.Min(MC, i1 - ic);
                    PackA(op, ic, mc, pc, kc, aPack);
                    for (var jr = 0; jr < nc; jr += MicroKernel.Cols)
                    {
                        var cols = Math.Min(MicroKernel.Cols, nc - jr);
                        for (var ir = 0; ir < mc; ir += MicroKernel.Rows)
                        {
                            var rows = Math.Min(MicroKernel.Rows, mc - ir);
                            var c = op.C + (long)(ic + ir) * op.N + jc + jr;
                            Tile(aPack + ir * kc, bPack + jr * kc, kc, c, op.N, rows, cols, add, edge, wide);
                        }
                    }

                    // After the last k block this block of C is final and still in this core's cache.
                    if (block == blocks - 1) op.Epilogue.Run(op.C, op.N, ic, ic + mc, jc, jc + nc);
                }

                pc += kc;
            }
        }
    }

    /// <summary>A product with k = 0: C is zero (or kept, when accumulating), then the epilogue runs.</summary>
    public static void Empty(in GemmOperands op)
    {
        if (!op.Accumulate) new Span<float>(op.C, op.M * op.N).Clear();
        op.Epilogue.Run(op.C, op.N, 0, op.M, 0, op.N);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* a, float* b, int kc, float* c, int ldc, int rows, int cols, bool add, float* edge, bool wide)
    {
        if (rows == MicroKernel.Rows && cols == MicroKernel.Cols)
        {
            if (wide) MicroKernel.Tile512(a, b, kc, c, ldc, add);
            else MicroKernel.Tile256(a, b, kc, c, ldc, add);
            return;
        }

        // Edge tiles are computed whole into a scratch tile (the packed panels are zero-padded),
        // then only the part inside C is stored: the same sums, so the same bits, as a full tile.
        if (!wide) MicroKernel.Tile256(a, b, kc, edge, MicroKernel.Cols, false, rows, cols);
        else if (cols <= 16) MicroKernel.HalfTile512(a, b, kc, edge, MicroKernel.Cols);
        else MicroKernel.Tile512(a, b, kc, edge, MicroKernel.Cols, false);
        for (var r = 0; r < rows; r++)
        {
            var src = edge + r * MicroKernel.Cols;
            var dst = c + (long)r * ldc;
            if (add)
            {
                for (var j = 0; j < cols; j++) dst[j] += src[j];
            }
            else
            {
                for (var j = 0; j < cols; j++) dst[j] = src[j];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(in GemmOperands op, int ic, int mc, int pc, int kc, float* dst)
    {
        for (var ir = 0; ir < mc; ir += MicroKernel.Rows, dst += MicroKernel.Rows * kc)
        {
            var valid = Math.Min(MicroKernel.Rows, mc - ir);
            var i = ic + ir;
            if (op.ALayout == OperandLayout.RowsAlongK) Packing.Transposed(op.A + (long)i * op.K + pc, op.K, valid, kc, dst, MicroKernel.Rows);
            else Packing.Strips(op.A + (long)pc * op.M + i, op.M, valid, kc, dst, MicroKernel.Rows);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(in GemmOperands op, int jc, int nc, int pc, int kc, float* dst)
    {
        for (var jr = 0; jr < nc; jr += MicroKernel.Cols, dst += MicroKernel.Cols * kc)
        {
            var valid = Math.Min(MicroKernel.Cols, nc - jr);
            var j = jc + jr;
            if (op.BLayout == OperandLayout.RowsAcrossK)
            {
                Packing.Strips(op.B + (long)pc * op.N + j, op.N, valid, kc, dst, MicroKernel.Cols);
                continue;
            }

            // A 32-wide panel from rows along k is four 8-row transposes side by side.
            for (var g = 0; g < MicroKernel.Cols; g += 8)
            {
                var rows = Math.Clamp(valid - g, 0, 8);
                Packing.Transposed(op.B + (long)(j + Math.Min(g, valid)) * op.K + pc, op.K, rows, kc, dst + g, MicroKernel.Cols);
            }
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;
}
