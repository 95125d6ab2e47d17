using Hybrid.Engine.Kernels;

namespace Hybrid.Engine.Layers;

/// <summary>
/// Softmax over classes fused with the cross-entropy loss and the output layer's bias. Stable:
/// every row is shifted by its maximum before exponentiating, and the loss is taken from the shifted
/// logits, so logits of ±1000 give a finite loss and gradient.
/// </summary>
public static class SoftmaxCrossEntropy
{
    // a: (B, P) becomes softmax(a + b);  b: (P)  labels: (B) or empty  →  returns Σ_b −log y[b, label_b]
    public static double Forward(KernelSet k, Span<float> a, ReadOnlySpan<float> b, ReadOnlySpan<int> labels, int batch) =>
        k.Elementwise.BiasSoftmaxCrossEntropy(a, b, labels, batch);

    // y: (B, P)  labels: (B)  →  dA: (B, P) += (y − onehot(labels)) / B      (the loss is the batch mean)
    public static void Backward(KernelSet k, ReadOnlySpan<float> y, ReadOnlySpan<int> labels, Span<float> dA, int batch) =>
        k.Elementwise.SoftmaxCrossEntropyBackward(y, labels, dA, batch, 1f / batch);
}
