using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("samplers", HelpText = "List the samplers (name, what it is, cost in score evaluations) from the registry.")]
public sealed class SamplersOptions
{
    [Option("markdown", HelpText = "Print the registry as the Markdown table of docs/ARCHITECTURE.md, with the options each sampler reads and their defaults.")]
    public bool Markdown { get; set; }

    public int Run()
    {
        Console.Write(Markdown ? Sampler.MarkdownTable() : Sampler.Text());
        return 0;
    }
}
