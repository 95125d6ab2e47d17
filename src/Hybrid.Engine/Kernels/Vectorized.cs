using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// The one width-dispatch loop: 512-bit vectors where the CPU runs them natively, then 256-bit,
/// then a scalar tail. Ops are structs so the JIT specializes and inlines each one. The result may
/// be the same span as an input (each vector is loaded before it is stored), not a shifted overlap.
/// </summary>
public static class Vectorized
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> result)
        where TOp : struct, IUnaryOp
    {
        RequireLength(x.Length, result.Length);
        ref var xs = ref MemoryMarshal.GetReference(x);
        ref var rs = ref MemoryMarshal.GetReference(result);
        var n = (nuint)result.Length;
        nuint i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
                op.Invoke(Vector512.LoadUnsafe(ref xs, i)).StoreUnsafe(ref rs, i);
        for (; i + 8 <= n; i += 8)
            op.Invoke(Vector256.LoadUnsafe(ref xs, i)).StoreUnsafe(ref rs, i);
        for (; i < n; i++)
            Unsafe.Add(ref rs, i) = op.Invoke(Unsafe.Add(ref xs, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> result)
        where TOp : struct, IBinaryOp
    {
        RequireLength(x.Length, result.Length);
        RequireLength(y.Length, result.Length);
        ref var xs = ref MemoryMarshal.GetReference(x);
        ref var ys = ref MemoryMarshal.GetReference(y);
        ref var rs = ref MemoryMarshal.GetReference(result);
        var n = (nuint)result.Length;
        nuint i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
                op.Invoke(Vector512.LoadUnsafe(ref xs, i), Vector512.LoadUnsafe(ref ys, i)).StoreUnsafe(ref rs, i);
        for (; i + 8 <= n; i += 8)
            op.Invoke(Vector256.LoadUnsafe(ref xs, i), Vector256.LoadUnsafe(ref ys, i)).StoreUnsafe(ref rs, i);
        for (; i < n; i++)
            Unsafe.Add(ref rs, i) = op.Invoke(Unsafe.Add(ref xs, i), Unsafe.Add(ref ys, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> z, Span<float> result)
        where TOp : struct, ITernaryOp
    {
        RequireLength(x.Length, result.Length);
        RequireLength(y.Length, result.Length);
        RequireLength(z.Length, result.Length);
        ref var xs = ref MemoryMarshal.GetReference(x);
        ref var ys = ref MemoryMarshal.GetReference(y);
        ref var zs = ref MemoryMarshal.GetReference(z);
        ref var rs = ref MemoryMarshal.GetReference(result);
        var n = (nuint)result.Length;
        nuint i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
                op.Invoke(Vector512.LoadUnsafe(ref xs, i), Vector512.LoadUnsafe(ref ys, i), Vector512.LoadUnsafe(ref zs, i)).StoreUnsafe(ref rs, i);
        for (; i + 8 <= n; i += 8)
            op.Invoke(Vector256.LoadUnsafe(ref xs, i), Vector256.LoadUnsafe(ref ys, i), Vector256.LoadUnsafe(ref zs, i)).StoreUnsafe(ref rs, i);
        for (; i < n; i++)
            Unsafe.Add(ref rs, i) = op.Invoke(Unsafe.Add(ref xs, i), Unsafe.Add(ref ys, i), Unsafe.Add(ref zs, i));
    }

    private static void RequireLength(int input, int result)
    {
        if (input != result)
            throw new ArgumentException($"element-wise operands: expected length {result}, found {input}");
    }
}
