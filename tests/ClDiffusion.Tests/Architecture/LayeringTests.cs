using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using NUnit.Framework;

namespace ClDiffusion.Tests.Architecture;

/// <summary>The layer rules of docs/ARCHITECTURE.md, checked on the assemblies and the source tree.</summary>
public class LayeringTests
{
    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ClDiffusion.sln"))) return dir.FullName;
        Assert.Ignore("repository root (ClDiffusion.sln) not found above the test binaries");
        return "";
    }

    static IEnumerable<string> ProjectReferences(string csproj) =>
        XDocument.Load(csproj).Descendants("ProjectReference").Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value));

    [Test]
    public void TheRuntimeAndThePluginDoNotReferenceTheTooling()
    {
        string root = RepoRoot();
        Assert.That(ProjectReferences(Path.Combine(root, "src/ClDiffusion/ClDiffusion.csproj")), Is.Empty);
        Assert.That(ProjectReferences(Path.Combine(root, "src/ClDiffusion.Native/ClDiffusion.Native.csproj")), Is.EqualTo(new[] { "ClDiffusion" }));
        Assert.That(ProjectReferences(Path.Combine(root, "tools/cldiff/cldiff.csproj")), Does.Contain("ClDiffusion.Tooling"));
        Assert.That(typeof(ClDiffusion.Samplers.Sampler).Assembly.GetReferencedAssemblies().Select(a => a.Name), Does.Not.Contain("ClDiffusion.Tooling"));
    }

    /// <summary>No tuner search, benchmark, experiment or scaling study is compiled into the runtime assembly.</summary>
    [Test]
    public void TheRuntimeAssemblyHoldsNoToolingCode()
    {
        var runtime = typeof(ClDiffusion.Samplers.Sampler).Assembly;
        var tooling = new Regex(@"Bench|Benchmark|TuningRunner|TuningStrategy|NfeSweep|Scaling|StepSearch|ExponentFit|KernelCheck");
        var found = runtime.GetTypes().Where(t => t.Namespace?.StartsWith("ClDiffusion") == true && tooling.IsMatch(t.Name) && !t.Name.StartsWith('<'))
            .Select(t => t.FullName).ToList();
        Assert.That(found, Is.Empty);
        Assert.That(runtime.GetTypes().Select(t => t.Namespace).Distinct(), Has.None.StartsWith("ClDiffusion.Experiments").And.None.EqualTo("ClDiffusion.Tuning"));
        // and the tooling has them
        Assert.That(typeof(ClDiffusion.Tooling.OpenCL.TuningRunner).Assembly.GetName().Name, Is.EqualTo("ClDiffusion.Tooling"));
    }
}
