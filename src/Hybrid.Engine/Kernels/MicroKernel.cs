using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// The register-blocked heart of the GEMM: an 8 × 32 tile of C from an 8-tall packed panel of A and
/// a 32-wide packed panel of B, <c>kc</c> steps deep. Each element is summed in k order with one
/// fused multiply-add per step, so every path (and every thread count) gives the same bits.
/// With <c>add</c> the tile is added to C, otherwise it overwrites C.
/// </summary>
internal static unsafe class MicroKernel
{
    public const int Rows = 8;
    public const int Cols = 32;

    // 16 accumulators of 16 lanes fill half of the 32 zmm registers, leaving room for the two B
    // vectors and the broadcasts: per k step 2 loads of B, 8 broadcasts of A, 16 FMAs.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile512(float* a, float* b, int kc, float* c, int ldc, bool add)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (var p = 0; p < kc; p++, a += Rows, b += Cols)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(x, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(x, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(x, b0, c60);
            c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(x, b0, c70);
            c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
        }

        Store(c, c00, c01, add);
        Store(c + ldc, c10, c11, add);
        Store(c + 2 * ldc, c20, c21, add);
        Store(c + 3 * ldc, c30, c31, add);
        Store(c + 4 * ldc, c40, c41, add);
        Store(c + 5 * ldc, c50, c51, add);
        Store(c + 6 * ldc, c60, c61, add);
        Store(c + 7 * ldc, c70, c71, add);
    }

    // Without AVX-512 there are only 16 vector registers, so the tile is swept as four 4 × 16
    // quarters: 8 accumulators, 2 B vectors and a broadcast fit without spilling, and 8 independent
    // chains cover the FMA latency of two pipes.
    // An edge tile skips the quarters that hold only padding (n = 10 needs one column half).
    public static void Tile256(float* a, float* b, int kc, float* c, int ldc, bool add, int rows = Rows, int cols = Cols)
    {
        for (var r = 0; r < rows; r += 4)
        {
            for (var j = 0; j < cols; j += 16) Quarter256(a + r, b + j, kc, c + r * ldc + j, ldc, add);
        }
    }

    // The left half of <see cref="Tile512"/>, for edge tiles at most 16 columns wide.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void HalfTile512(float* a, float* b, int kc, float* c, int ldc)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<float> c4 = default, c5 = default, c6 = default, c7 = default;
        for (var p = 0; p < kc; p++, a += Rows, b += Cols)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
        }

        Vector512.Store(c0, c);
        Vector512.Store(c1, c + ldc);
        Vector512.Store(c2, c + 2 * ldc);
        Vector512.Store(c3, c + 3 * ldc);
        Vector512.Store(c4, c + 4 * ldc);
        Vector512.Store(c5, c + 5 * ldc);
        Vector512.Store(c6, c + 6 * ldc);
        Vector512.Store(c7, c + 7 * ldc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quarter256(float* a, float* b, int kc, float* c, int ldc, bool add)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        for (var p = 0; p < kc; p++, a += Rows, b += Cols)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(x, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(x, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(x, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(x, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
        }

        Store(c, c00, c01, add);
        Store(c + ldc, c10, c11, add);
        Store(c + 2 * ldc, c20, c21, add);
        Store(c + 3 * ldc, c30, c31, add);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector512<float> lo, Vector512<float> hi, bool add)
    {
        if (add)
        {
            lo += Vector512.Load(c);
            hi += Vector512.Load(c + 16);
        }

        Vector512.Store(lo, c);
        Vector512.Store(hi, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector256<float> lo, Vector256<float> hi, bool add)
    {
        if (add)
        {
            lo += Vector256.Load(c);
            hi += Vector256.Load(c + 8);
        }

        Vector256.Store(lo, c);
        Vector256.Store(hi, c + 8);
    }
}
