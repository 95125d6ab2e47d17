using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Layers;

/// <summary>
/// A fully connected layer without its bias: the bias is added by the activation that follows, run
/// as the product's epilogue so y is read and written once, by the core that computed it. The bias
/// gradient is taken here; the gradient through the previous layer's activation is dX's epilogue.
/// </summary>
public static class Linear
{
    // x: (B, In)  w: (Out, In)  →  y: (B, Out)      y = x·wᵀ, then the activation (e.g. Tanh.Forward) on y
    public static void Forward(KernelSet k, ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, int batch, int inputs, int outputs,
        Epilogue activation = default) =>
        k.Products.MultiplyABt(x, w, y, batch, outputs, inputs, accumulate: false, activation);

    // dY: (B, Out)  x: (B, In)  w: (Out, In)  →  dX: (B, In) += dY·w,  dW: (Out, In) += dYᵀ·x,  dB: (Out) += Σ_b dY
    // (an empty dX means: don't compute the input gradient; dXThen, e.g. Tanh.Backward, runs on the finished dX)
    // With accumulate false, dW and dB are overwritten instead: a training step then needs no pass
    // clearing the gradients first, and the product's epilogue does not read dW back.
    public static void Backward(KernelSet k, ReadOnlySpan<float> dY, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        Span<float> dX, Span<float> dW, Span<float> dB, int batch, int inputs, int outputs, bool accumulate = true, Epilogue dXThen = default)
    {
        k.Products.MultiplyAtB(dY, x, dW, outputs, inputs, batch, accumulate);
        if (!accumulate) dB.Clear();
        k.Elementwise.AddRowSums(dY, dB, batch);
        if (!dX.IsEmpty)
            k.Products.MultiplyAB(dY, w, dX, batch, inputs, outputs, accumulate: true, dXThen);
    }
}
