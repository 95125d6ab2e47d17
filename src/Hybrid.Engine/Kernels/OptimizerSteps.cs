using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// The optimizer updates over a whole parameter range. They stream four arrays and are bound by
/// memory, not arithmetic, so 256-bit vectors already saturate the load ports; a 512-bit path
/// would add code without speed.
/// </summary>
internal static class OptimizerSteps
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Sgd(Span<float> p, ReadOnlySpan<float> g, Span<float> v, float lr, float momentum, bool nesterov)
    {
        RequireSameLength(p.Length, g.Length, v.Length, 0);
        ref var ps = ref MemoryMarshal.GetReference(p);
        ref var gs = ref MemoryMarshal.GetReference(g);
        ref var vs = ref MemoryMarshal.GetReference(v);
        var n = (nuint)p.Length;
        nuint i = 0;
        var (lrV, muV) = (Vector256.Create(lr), Vector256.Create(momentum));
        if (momentum == 0f)
        {
            // Plain SGD keeps no velocity: two streams instead of four, as v would only copy g.
            for (; i + 8 <= n; i += 8)
                (Vector256.LoadUnsafe(ref ps, i) - lrV * Vector256.LoadUnsafe(ref gs, i)).StoreUnsafe(ref ps, i);
            for (; i < n; i++) Unsafe.Add(ref ps, i) -= lr * Unsafe.Add(ref gs, i);
            return;
        }

        for (; i + 8 <= n; i += 8)
        {
            var gi = Vector256.LoadUnsafe(ref gs, i);
            var vi = muV * Vector256.LoadUnsafe(ref vs, i) + gi;
            var step = nesterov ? gi + muV * vi : vi;
            vi.StoreUnsafe(ref vs, i);
            (Vector256.LoadUnsafe(ref ps, i) - lrV * step).StoreUnsafe(ref ps, i);
        }
        for (; i < n; i++)
        {
            var gi = Unsafe.Add(ref gs, i);
            var vi = momentum * Unsafe.Add(ref vs, i) + gi;
            Unsafe.Add(ref vs, i) = vi;
            Unsafe.Add(ref ps, i) -= lr * (nesterov ? gi + momentum * vi : vi);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Adam(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, in AdamCoefficients c)
    {
        RequireSameLength(p.Length, g.Length, m.Length, v.Length);
        ref var ps = ref MemoryMarshal.GetReference(p);
        ref var gs = ref MemoryMarshal.GetReference(g);
        ref var ms = ref MemoryMarshal.GetReference(m);
        ref var vs = ref MemoryMarshal.GetReference(v);
        var n = (nuint)p.Length;
        nuint i = 0;
        var (b1, b2) = (Vector256.Create(c.Beta1), Vector256.Create(c.Beta2));
        var (oneMinusB1, oneMinusB2) = (Vector256.Create(1f - c.Beta1), Vector256.Create(1f - c.Beta2));
        var (inverseC1, inverseC2) = (Vector256.Create(1f / c.Correction1), Vector256.Create(1f / c.Correction2));
        var (lr, eps, decay) = (Vector256.Create(c.LearningRate), Vector256.Create(c.Epsilon), Vector256.Create(c.Decay));
        for (; i + 8 <= n; i += 8)
        {
            var gi = Vector256.LoadUnsafe(ref gs, i);
            var mi = b1 * Vector256.LoadUnsafe(ref ms, i) + oneMinusB1 * gi;
            var vi = b2 * Vector256.LoadUnsafe(ref vs, i) + oneMinusB2 * (gi * gi);
            mi.StoreUnsafe(ref ms, i);
            vi.StoreUnsafe(ref vs, i);
            var pi = Vector256.LoadUnsafe(ref ps, i);
            var update = mi * inverseC1 / (Vector256.Sqrt(vi * inverseC2) + eps) + decay * pi;
            (pi - lr * update).StoreUnsafe(ref ps, i);
        }
        for (; i < n; i++)
        {
            var gi = Unsafe.Add(ref gs, i);
            var mi = c.Beta1 * Unsafe.Add(ref ms, i) + (1f - c.Beta1) * gi;
            var vi = c.Beta2 * Unsafe.Add(ref vs, i) + (1f - c.Beta2) * (gi * gi);
            Unsafe.Add(ref ms, i) = mi;
            Unsafe.Add(ref vs, i) = vi;
            ref var pi = ref Unsafe.Add(ref ps, i);
            pi -= c.LearningRate * (mi * (1f / c.Correction1) / (MathF.Sqrt(vi * (1f / c.Correction2)) + c.Epsilon) + c.Decay * pi);
        }
    }

    public static void RequireSameLength(int p, int g, int first, int second)
    {
        if (g != p || first != p || (second != 0 && second != p))
            throw new ArgumentException($"optimizer state: expected {p} elements in every buffer, found gradient {g}, state {first}, {second}");
    }
}
