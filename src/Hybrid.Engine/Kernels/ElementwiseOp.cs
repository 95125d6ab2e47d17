using System.Runtime.Intrinsics;

namespace Hybrid.Engine.Kernels;

/// <summary>One element-wise operation on one input, at every vector width the driver dispatches to.</summary>
public interface IUnaryOp
{
    float Invoke(float x);

    Vector256<float> Invoke(Vector256<float> x);

    Vector512<float> Invoke(Vector512<float> x);
}

/// <summary>One element-wise operation on two inputs, at every vector width.</summary>
public interface IBinaryOp
{
    float Invoke(float x, float y);

    Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);

    Vector512<float> Invoke(Vector512<float> x, Vector512<float> y);
}

/// <summary>One element-wise operation on three inputs, at every vector width.</summary>
public interface ITernaryOp
{
    float Invoke(float x, float y, float z);

    Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> z);

    Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> z);
}
