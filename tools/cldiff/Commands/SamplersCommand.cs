using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("samplers", HelpText = "List the samplers (name, what it is, cost in score evaluations) from the registry.")]
public sealed class SamplersOptions
{
    [Option("markdown", HelpText = "Print the registry as the Markdown table of docs/ARCHITECTURE.md, with the options each sampler reads and their defaults.")]
    public bool Markdown { get; set; }
    [Option("options-markdown", HelpText = "Print the sampler options (CLI flags, C keys, properties, defaults) as the Markdown table of docs/ARCHITECTURE.md.")]
    public bool OptionsMarkdown { get; set; }

    public int Run()
    {
        if (Markdown && OptionsMarkdown) throw new ArgumentException("give either --markdown or --options-markdown, not both");
        Console.Write(OptionsMarkdown ? SamplerOptionTable.MarkdownTable() : Markdown ? Sampler.MarkdownTable() : Sampler.Text());
        return 0;
    }
}
