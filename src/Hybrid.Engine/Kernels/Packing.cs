using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// Copies a block of an operand into the order the micro-kernel reads it: for every k step, one
/// contiguous strip of <c>width</c> values (8 rows of A or 32 columns of B), zero-padded past the
/// matrix edge so the kernel never needs a bounds check. Transposed operands are turned here, once
/// per block, so a single kernel serves all three products.
/// </summary>
internal static unsafe class Packing
{
    /// <summary>
    /// Source strips run along the packed direction: element (p, r) of the block is
    /// <c>src[p·ld + r]</c>, for r &lt; <paramref name="valid"/> ≤ <paramref name="width"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Strips(float* src, int ld, int valid, int kc, float* dst, int width)
    {
        if (valid == width)
        {
            for (var p = 0; p < kc; p++, src += ld, dst += width)
            {
                for (var r = 0; r < width; r += 8) Vector256.Store(Vector256.Load(src + r), dst + r);
            }

            return;
        }

        for (var p = 0; p < kc; p++, src += ld, dst += width)
        {
            var r = 0;
            for (; r < valid; r++) dst[r] = src[r];
            for (; r < width; r++) dst[r] = 0f;
        }
    }

    /// <summary>
    /// Source rows run along k: element (p, r) of the block is <c>src[r·ld + p]</c>, for 8 rows
    /// r &lt; <paramref name="valid"/>; it lands at <c>dst[p·stride + r]</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transposed(float* src, int ld, int valid, int kc, float* dst, int stride)
    {
        var p = 0;
        if (Avx.IsSupported)
        {
            // Eight rows are read eight k values at a time and turned in registers: scalar copies
            // here cost more than the arithmetic at batch sizes of 32 to 128.
            var zero = Vector256<float>.Zero;
            for (; p + 8 <= kc; p += 8)
            {
                var s = src + p;
                var r0 = valid > 0 ? Vector256.Load(s) : zero;
                var r1 = valid > 1 ? Vector256.Load(s + ld) : zero;
                var r2 = valid > 2 ? Vector256.Load(s + 2 * ld) : zero;
                var r3 = valid > 3 ? Vector256.Load(s + 3 * ld) : zero;
                var r4 = valid > 4 ? Vector256.Load(s + 4 * ld) : zero;
                var r5 = valid > 5 ? Vector256.Load(s + 5 * ld) : zero;
                var r6 = valid > 6 ? Vector256.Load(s + 6 * ld) : zero;
                var r7 = valid > 7 ? Vector256.Load(s + 7 * ld) : zero;
                Transpose8x8(ref r0, ref r1, ref r2, ref r3, ref r4, ref r5, ref r6, ref r7);
                var d = dst + p * stride;
                Vector256.Store(r0, d);
                Vector256.Store(r1, d + stride);
                Vector256.Store(r2, d + 2 * stride);
                Vector256.Store(r3, d + 3 * stride);
                Vector256.Store(r4, d + 4 * stride);
                Vector256.Store(r5, d + 5 * stride);
                Vector256.Store(r6, d + 6 * stride);
                Vector256.Store(r7, d + 7 * stride);
            }
        }

        for (; p < kc; p++)
        {
            var d = dst + p * stride;
            var r = 0;
            for (; r < valid; r++) d[r] = src[r * ld + p];
            for (; r < 8; r++) d[r] = 0f;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(
        ref Vector256<float> r0, ref Vector256<float> r1, ref Vector256<float> r2, ref Vector256<float> r3,
        ref Vector256<float> r4, ref Vector256<float> r5, ref Vector256<float> r6, ref Vector256<float> r7)
    {
        var t0 = Avx.UnpackLow(r0, r1);
        var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3);
        var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5);
        var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7);
        var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44);
        var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44);
        var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44);
        var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44);
        var u7 = Avx.Shuffle(t5, t7, 0xEE);
        r0 = Avx.Permute2x128(u0, u4, 0x20);
        r1 = Avx.Permute2x128(u1, u5, 0x20);
        r2 = Avx.Permute2x128(u2, u6, 0x20);
        r3 = Avx.Permute2x128(u3, u7, 0x20);
        r4 = Avx.Permute2x128(u0, u4, 0x31);
        r5 = Avx.Permute2x128(u1, u5, 0x31);
        r6 = Avx.Permute2x128(u2, u6, 0x31);
        r7 = Avx.Permute2x128(u3, u7, 0x31);
    }
}
