import { describe, expect, it } from 'vitest';
import { compileTemplate } from './template.js';

const container = {
  Id: 'abc123',
  State: { Status: 'running', Pid: 42, Running: true },
  Config: { Env: ['PATH=/usr/bin', 'A=1'], Labels: { 'com.example': 'x', b: 'y' }, Cmd: null },
  NetworkSettings: { Networks: { bridge: { IPAddress: '10.88.0.2' } } },
  Mounts: [{ Source: '/a', Destination: '/x' }, { Source: '/b', Destination: '/y' }],
};
const render = (t: string, v: unknown = container): string => compileTemplate(t)(v);

describe('Go template subset (docker --format)', () => {
  it('field paths, text around them, and Go\'s printing of values', () => {
    expect(render('{{.Id}} is {{.State.Status}} (pid {{.State.Pid}})')).toBe('abc123 is running (pid 42)');
    expect(render('{{.Config.Env}}')).toBe('[PATH=/usr/bin A=1]');
    expect(render('{{.Config.Labels}}')).toBe('map[b:y com.example:x]');
    expect(render('{{.Config.Cmd}} {{.Nope}} {{.Nope.Deeper}}')).toBe('<no value> <no value> <no value>');
    expect(render('{{.NetworkSettings.Networks.bridge.IPAddress}}')).toBe('10.88.0.2');
  });

  it('json, index, len, join, split, upper, lower, printf, literals and pipelines', () => {
    expect(render('{{json .Config.Env}}')).toBe('["PATH=/usr/bin","A=1"]');
    expect(render('{{json .State}}')).toBe('{"Status":"running","Pid":42,"Running":true}');
    expect(render('{{index .Config.Labels "com.example"}} {{index .Config.Env 1}}')).toBe('x A=1');
    expect(render('{{len .Mounts}} {{len .Config.Labels}} {{len "abc"}}')).toBe('2 2 3');
    expect(render('{{join .Config.Env ","}}')).toBe('PATH=/usr/bin,A=1');
    expect(render('{{upper .State.Status}} {{.State.Status | upper}} {{lower "ABC"}}')).toBe('RUNNING RUNNING abc');
    expect(render('{{printf "%s=%d" "n" 7}} {{`raw`}} {{"q\\"s"}} {{3}} {{true}}')).toBe('n=7 raw q"s 3 true');
    expect(render('{{(index .Mounts 1).Source}}')).toBe('/b');
    expect(render('{{join (split "a:b:c" ":") "-"}}')).toBe('a-b-c');
  });

  it('range, if, with, else, eq/not, $ for the root and {{- -}} trimming', () => {
    expect(render('{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}')).toBe('/a:/x /b:/y ');
    expect(render('{{range .Config.Labels}}[{{.}}]{{end}}')).toBe('[y][x]');
    expect(render('{{range .Nope}}x{{else}}empty{{end}}')).toBe('empty');
    expect(render('{{if .State.Running}}up{{else}}down{{end}} {{if eq .State.Status "exited"}}E{{else}}R{{end}}')).toBe('up R');
    expect(render('{{if not .Config.Cmd}}no cmd{{end}}')).toBe('no cmd');
    expect(render('{{with .State}}{{.Status}}/{{$.Id}}{{end}}')).toBe('running/abc123');
    expect(render('{{range .Mounts -}}\n  {{ .Source }}\n{{- end}}')).toBe('/a/b');
  });

  it('bad templates are one `template: …` error', () => {
    expect(() => compileTemplate('{{range .Mounts}}x')).toThrow(/^template: unexpected EOF: \{\{range\}\} without \{\{end\}\}$/);
    expect(() => compileTemplate('{{end}}')).toThrow(/^template: unexpected \{\{end\}\}$/);
    expect(() => render('{{nosuch .Id}}')).toThrow(/^template: function "nosuch" not defined$/);
    expect(() => compileTemplate('{{.Id := 3}}')).toThrow(/^template: unexpected ":"$/);
  });
});
