namespace Hybrid.Engine.Kernels;

/// <summary>
/// The fused element-wise epilogues and the optimizer updates. Matrices are row-major (rows, n).
/// Every sum over rows is taken in row order, so results never depend on how work is split.
/// </summary>
public interface IElementwiseKernels
{
    // a: (rows, n)  bias: (n)  →  z: (rows, n)      z = tanh(a + bias); z may be a
    void BiasTanh(ReadOnlySpan<float> a, ReadOnlySpan<float> bias, Span<float> z, int rows);

    // dZ, z: (len)  →  dA: (len)                     dA = dZ ⊙ (1 − z²)
    void TanhBackward(ReadOnlySpan<float> dZ, ReadOnlySpan<float> z, Span<float> dA);

    // a: (rows, n) updated to a + bias;  s: (rows, n)  →  z: (rows, n)      z = ReLU(a + bias) + s
    void BiasReluPlus(Span<float> a, ReadOnlySpan<float> bias, ReadOnlySpan<float> s, Span<float> z, int rows);

    // dZ, a: (len)  →  dA: (len)                     dA = dZ where a > 0, else 0
    void ReluBackward(ReadOnlySpan<float> dZ, ReadOnlySpan<float> a, Span<float> dA);

    // x: (rows, n)  →  sums: (n)                     sums += Σ_r x[r, :]
    void AddRowSums(ReadOnlySpan<float> x, Span<float> sums, int rows);

    // x: (rows, d)  w: (k ≤ min(d, n))  →  s: (rows, n)      s[r, j] = w[j]·x[r, j] for j < k, else 0
    void ScaleColumns(ReadOnlySpan<float> x, int d, ReadOnlySpan<float> w, Span<float> s, int rows, int n);

    // dS: (rows, n)  x: (rows, d)  w: (k)  →  dW: (k) += Σ_r dS[r, j]·x[r, j];  dX: (rows, d) += dS[r, j]·w[j] for j < k
    // (an empty dX means: don't compute the input gradient)
    void ScaleColumnsBackward(ReadOnlySpan<float> dS, int n, ReadOnlySpan<float> x, int d, ReadOnlySpan<float> w, Span<float> dW, Span<float> dX, int rows);

    // logits: (rows, p) in, softmax(logits + bias) out;  labels: (rows) or empty
    // returns Σ_r −log softmax[r, label_r] from the shifted logits (0 without labels)
    double BiasSoftmaxCrossEntropy(Span<float> logits, ReadOnlySpan<float> bias, ReadOnlySpan<int> labels, int rows);

    // probabilities: (rows, p)  labels: (rows)  →  dLogits: (rows, p) += (probabilities − onehot)·scale
    void SoftmaxCrossEntropyBackward(ReadOnlySpan<float> probabilities, ReadOnlySpan<int> labels, Span<float> dLogits, int rows, float scale);

    // source: (sourceRows, columns)  rows: (count)  →  destination: (count, columns)      destination[r] = source[rows[r]]
    // (a mini-batch from the shuffled order; split between threads, each copying whole rows)
    void GatherRows(ReadOnlySpan<float> source, int columns, ReadOnlySpan<int> rows, Span<float> destination);

    // x: (len)                                       x ← 0   (the gradients, once per step)
    void Clear(Span<float> x);

    // g, w: (len / columns, columns), one weight's rows  →  g += scale·w   (L2 weight decay; threads take whole rows, as in SgdStep)
    void AddScaled(Span<float> g, ReadOnlySpan<float> w, int columns, float scale);

    // p, g, v: (len / columns, columns), one tensor's rows; threads take whole rows (the rows whose gradient they computed)
    // v ← μ·v + g;  p ← p − lr·(g + μ·v) with Nesterov, p − lr·v without
    // μ = 0 is plain SGD, p ← p − lr·g, and leaves v as it is (PyTorch keeps no buffer then either)
    void SgdStep(Span<float> p, ReadOnlySpan<float> g, Span<float> v, int columns, float learningRate, float momentum, bool nesterov);

    // p, g, m, v: (len / columns, columns), as in SgdStep
    // m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← p − lr·(m/c1 / (√(v/c2) + ε) + decay·p)
    // c1 = 1 − β1ᵗ and c2 = 1 − β2ᵗ are the bias corrections; decay is AdamW's decoupled weight decay (0 for Adam)
    void AdamStep(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, int columns, in AdamCoefficients c);
}

/// <summary>One Adam step's scalars, computed once per step by the optimizer.</summary>
public readonly record struct AdamCoefficients(
    float LearningRate, float Beta1, float Beta2, float Epsilon, float Correction1, float Correction2, float Decay);
