using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>tanh(x + y): the first layer's bias-and-activation epilogue.</summary>
public readonly struct TanhOfSum : IBinaryOp
{
    // tanh(t) = sign(t)·(1 − e)/(1 + e) with e = e^(−2|t|) in (0, 1]: a large |t| makes e exactly 0
    // and the result exactly ±1, never NaN. The scalar form is the vector one lane by lane, so a
    // row's tail has the same bits it would have in a vector.
    public float Invoke(float x, float y)
    {
        var t = x + y;
        var e = ExpOfNonPositive.Invoke(-2f * MathF.Abs(t));
        return MathF.CopySign((1f - e) / (1f + e), t);
    }

    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y)
    {
        var t = x + y;
        var e = ExpOfNonPositive.Invoke(Vector256.Create(-2f) * Vector256.Abs(t));
        return Vector256.CopySign((Vector256<float>.One - e) / (Vector256<float>.One + e), t);
    }

    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y)
    {
        var t = x + y;
        var e = ExpOfNonPositive.Invoke(Vector512.Create(-2f) * Vector512.Abs(t));
        return Vector512.CopySign((Vector512<float>.One - e) / (Vector512<float>.One + e), t);
    }
}

/// <summary>x ⊙ (1 − y²): the gradient through tanh, given the upstream gradient x and the output y.</summary>
public readonly struct TanhGradient : IBinaryOp
{
    public float Invoke(float x, float y) => x * (1f - y * y);

    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x * (Vector256<float>.One - y * y);

    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x * (Vector512<float>.One - y * y);
}

/// <summary>max(x, 0) + y: ReLU plus the skip.</summary>
public readonly struct ReluPlus : IBinaryOp
{
    public float Invoke(float x, float y) => MathF.Max(x, 0f) + y;

    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => Vector256.Max(x, Vector256<float>.Zero) + y;

    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => Vector512.Max(x, Vector512<float>.Zero) + y;
}

/// <summary>x where y &gt; 0, else 0: the gradient through ReLU; at y = 0 exactly it is 0 (documented in docs/backprop.md).</summary>
public readonly struct ReluGradient : IBinaryOp
{
    public float Invoke(float x, float y) => y > 0f ? x : 0f;

    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => Vector256.ConditionalSelect(Vector256.GreaterThan(y, Vector256<float>.Zero), x, Vector256<float>.Zero);

    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => Vector512.ConditionalSelect(Vector512.GreaterThan(y, Vector512<float>.Zero), x, Vector512<float>.Zero);
}

/// <summary>x + y.</summary>
public readonly struct Add : IBinaryOp
{
    public float Invoke(float x, float y) => x + y;

    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x + y;

    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x + y;
}

/// <summary>x·y.</summary>
public readonly struct Multiply : IBinaryOp
{
    public float Invoke(float x, float y) => x * y;

    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x * y;

    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x * y;
}

/// <summary>x·y + z, rounded twice like the scalar form so every width gives the same bits.</summary>
public readonly struct MultiplyAdd : ITernaryOp
{
    public float Invoke(float x, float y, float z) => x * y + z;

    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> z) => x * y + z;

    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> z) => x * y + z;
}

/// <summary>e^(x − shift): softmax's numerator with the row maximum as the shift, so the power is never positive.</summary>
public readonly struct ShiftedExp(float shift) : IUnaryOp
{
    public float Invoke(float x) => ExpOfNonPositive.Invoke(x - shift);

    public Vector256<float> Invoke(Vector256<float> x) => ExpOfNonPositive.Invoke(x - Vector256.Create(shift));

    public Vector512<float> Invoke(Vector512<float> x) => ExpOfNonPositive.Invoke(x - Vector512.Create(shift));
}

/// <summary>x + scale·y: adds a scaled copy, e.g. weight decay λ·W into a gradient.</summary>
public readonly struct AddScaled(float scale) : IBinaryOp
{
    public float Invoke(float x, float y) => x + scale * y;

    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> y) => x + Vector256.Create(scale) * y;

    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> y) => x + Vector512.Create(scale) * y;
}

/// <summary>factor·x.</summary>
public readonly struct Scale(float factor) : IUnaryOp
{
    public float Invoke(float x) => factor * x;

    public Vector256<float> Invoke(Vector256<float> x) => Vector256.Create(factor) * x;

    public Vector512<float> Invoke(Vector512<float> x) => Vector512.Create(factor) * x;
}
