namespace Hybrid.Engine.Layers;

/// <summary>
/// How x reaches the second hidden layer. The seed document defines the skip two ways, so both
/// exist, plus none for the ablation.
/// </summary>
public enum SkipKind
{
    /// <summary>The seed's vector form: S = X·Wsᵀ with Ws of shape (L, D), no bias.</summary>
    Dense,

    /// <summary>The seed's scalar form: S[b, j] = ws[j]·X[b, j] for j &lt; min(L, D), zero elsewhere.</summary>
    Diagonal,

    /// <summary>No skip: Z2 = ReLU(A2).</summary>
    None,
}
