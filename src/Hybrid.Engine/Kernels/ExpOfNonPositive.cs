using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>
/// e^u for u ≤ 0, the only exponentials the network takes (softmax shifted by its row maximum, and
/// tanh through e^(−2|t|)). Written out here rather than taken from .NET's vector <c>Exp</c>, which
/// computes in double precision and cost ~5 ns per element (tanh alone was a fifth of a forward pass).
/// Every width and the scalar form run the same operations, fused multiply-adds included, so each
/// lane gets the same bits whichever path computes it.
/// Method: u = n·ln 2 + r with |r| ≤ ln 2 / 2 (ln 2 split in two so n·ln 2 is exact), e^r by
/// Cephes' degree-7 polynomial (about 1 ulp), times 2ⁿ built in the exponent bits. Below
/// <see cref="Smallest"/> 2ⁿ would leave the normal range, so the result is 0; NaN stays NaN.
/// </summary>
internal static class ExpOfNonPositive
{
    private const float Smallest = -87.33f;
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2High = 0.693359375f;
    private const float Ln2Low = -2.12194440e-4f;

    // 1.5·2²³: adding it rounds to the nearest integer, whatever the vector width or rounding mode
    // instructions the CPU has.
    private const float RoundingShift = 12582912f;
    private const float P0 = 1.9875691500e-4f;
    private const float P1 = 1.3981999507e-3f;
    private const float P2 = 8.3334519073e-3f;
    private const float P3 = 4.1665795894e-2f;
    private const float P4 = 1.6666665459e-1f;
    private const float P5 = 5.0000001201e-1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Invoke(float u)
    {
        var n = MathF.FusedMultiplyAdd(u, Log2E, RoundingShift) - RoundingShift;
        var r = MathF.FusedMultiplyAdd(n, -Ln2Low, MathF.FusedMultiplyAdd(n, -Ln2High, u));
        var p = MathF.FusedMultiplyAdd(P0, r, P1);
        p = MathF.FusedMultiplyAdd(p, r, P2);
        p = MathF.FusedMultiplyAdd(p, r, P3);
        p = MathF.FusedMultiplyAdd(p, r, P4);
        p = MathF.FusedMultiplyAdd(p, r, P5);
        p = MathF.FusedMultiplyAdd(p, r * r, r) + 1f;
        var scale = BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
        return u < Smallest ? 0f : p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Invoke(Vector256<float> u)
    {
        var n = Vector256.FusedMultiplyAdd(u, Vector256.Create(Log2E), Vector256.Create(RoundingShift)) - Vector256.Create(RoundingShift);
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2High), u);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Low), r);
        var p = Vector256.FusedMultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(Vector256.LessThan(u, Vector256.Create(Smallest)), Vector256<float>.Zero, p * scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Invoke(Vector512<float> u)
    {
        var n = Vector512.FusedMultiplyAdd(u, Vector512.Create(Log2E), Vector512.Create(RoundingShift)) - Vector512.Create(RoundingShift);
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2High), u);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Low), r);
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(P0), r, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return Vector512.ConditionalSelect(Vector512.LessThan(u, Vector512.Create(Smallest)), Vector512<float>.Zero, p * scale);
    }
}
