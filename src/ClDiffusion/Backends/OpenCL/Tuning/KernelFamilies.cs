namespace ClDiffusion.Backends.OpenCL.Tuning;

/// <summary>
/// One kernel family: the kernel file its program is built from, the -D defines that program reads (its tunables), and
/// its kernels. Each family's program is compiled with its own values (the midpoint family's VW is not the lincomb
/// family's), so families that share a file (the three sampling families in cl/sampling.cl) get one program each.
/// </summary>
public sealed record KernelFamily(string Name, string File, IReadOnlyList<string> Defines, IReadOnlyList<string> Kernels)
{
    /// <summary>Shape class of a problem size for this family's database entries (null: <see cref="KernelFamilies.ShapeClass(int)"/> of d).</summary>
    public Func<int, string>? Classes { get; init; }
    /// <summary>
    /// True for a family whose parameters are chosen when a model is prepared (the MLP kernels, per hidden width), not
    /// when the backend is built: <see cref="TuningResolver.Resolve(DeviceDescription, OpenClOptions)"/> skips its entries.
    /// </summary>
    public bool PerModel { get; init; }
    public string ShapeClassOf(int dim) => Classes?.Invoke(dim) ?? KernelFamilies.ShapeClass(dim);
}

/// <summary>
/// The kernel families of the OpenCL backend and the defines each owns. A define owned by no family (HAVE_FP64, WG,
/// a test-only switch in <see cref="OpenClOptions.ExtraDefines"/>) goes to every program; an owned one only to its
/// family's. The tuner's search spaces over these defines live in ClDiffusion.Tooling, not here.
/// </summary>
public static class KernelFamilies
{
    /// <summary>The program of cl/sampling.cl's untuned kernels (noise, repeats, Shen-Lee, reductions): no family tunables.</summary>
    public const string Sampling = "sampling";

    static readonly List<KernelFamily> all = new()
    {
        new("gmm", "gmm.cl", new[] { "GVW", "KMAX", "GRCP", "GIT", "GAC", "GLC" }, new[] { "gmm_score", "gmm_score_vec", "gmm_logdet", "gmm_inverse_var" }),
        new("gmm-rows", "gmm_rows.cl", new[] { "GRW", "GRV", "GRR", "GRD", "GRCP", "GIT" }, new[] { "gmm_score_rows" }),
        new("midpoint", "sampling.cl", new[] { "VW", "MW" }, new[] { "midpoint_predict", "picard_sums", "midpoint_final" }),
        new("langevin", "sampling.cl", new[] { "NB" }, new[] { "langevin_blocks", "langevin_scan", "normal_blocks" }),
        new("lincomb", "sampling.cl", new[] { "VW", "WPT" }, new[] { "lincomb", "copy_vec" }),
        new(Sampling, "sampling.cl", Array.Empty<string>(), Array.Empty<string>()),
        new("logsnr", "logsnr.cl", new[] { "LSNR_SERIES" }, Array.Empty<string>()),
        new("nonfinite", "nonfinite.cl", new[] { "NF_UNROLL" }, new[] { "mark_nonfinite" }),
        new(MlpTuning.Family, "mlp.cl", MlpTuning.Names.Concat(new[] { "MLP_CLASSES", "FD", "FF", "FW", "FH", "PRED", "FC" }).ToArray(), Array.Empty<string>())
            { Classes = MlpTuning.WidthClass, PerModel = true },
    };
    static readonly Dictionary<string, string> kernelFamily = all.SelectMany(f => f.Kernels.Select(k => (k, f.Name))).ToDictionary(x => x.k, x => x.Name);

    public static IReadOnlyList<KernelFamily> All { get { lock (all) return all.ToArray(); } }

    /// <summary>The family of this name, or null.</summary>
    public static KernelFamily? Find(string name) { lock (all) return all.FirstOrDefault(f => f.Name == name); }

    /// <summary>The family of this name; an unknown name is an ArgumentException listing the known ones.</summary>
    public static KernelFamily ByName(string name) => Find(name) ?? throw new ArgumentException($"no kernel family '{name}' ({string.Join(" | ", All.Select(f => f.Name))})");

    /// <summary>The family a program of this kernel file belongs to (cl/sampling.cl: <see cref="Sampling"/>, the untuned kernels; mlp_fused.cl: mlp), or null (a file outside the families, e.g. the tooling's bandwidth.cl: common defines only).</summary>
    public static string? OfFile(string file) => file switch
    {
        "sampling.cl" => Sampling,
        "mlp_fused.cl" => MlpTuning.Family,
        _ => All.FirstOrDefault(f => f.File == file)?.Name,
    };

    /// <summary>The tuning family of an OpenCL kernel name (null: not tuned, launches with the backend's WorkGroup).</summary>
    public static string? FamilyOf(string kernel) { lock (all) return kernelFamily.TryGetValue(kernel, out var f) ? f : null; }

    /// <summary>Extension point: puts a kernel (e.g. an MLP kernel) into a family so that it launches with that family's WG.</summary>
    public static void RegisterKernel(string kernel, string family) { lock (all) kernelFamily[kernel] = family; }

    /// <summary>Extension point: adds (or replaces) a family.</summary>
    public static void Register(KernelFamily family)
    {
        lock (all)
        {
            all.RemoveAll(f => f.Name == family.Name);
            all.Add(family);
            foreach (var k in family.Kernels) kernelFamily[k] = family.Name;
        }
    }

    /// <summary>Whether some family owns this define (an owned define goes to its family's programs only).</summary>
    public static bool IsOwned(string define) => All.Any(f => f.Defines.Contains(define));

    /// <summary>Shape class of a dimension (the database keeps one best entry per kernel and class): "d&lt;=16", "d&lt;=64", "d&lt;=256", "d&gt;256".</summary>
    public static string ShapeClass(int dim) => dim <= 16 ? "d<=16" : dim <= 64 ? "d<=64" : dim <= 256 ? "d<=256" : "d>256";

    /// <summary>The shape class of dim in a family's entries (an unknown family: <see cref="ShapeClass(int)"/>).</summary>
    public static string ClassOf(string family, int dim) => Find(family)?.ShapeClassOf(dim) ?? ShapeClass(dim);
}
