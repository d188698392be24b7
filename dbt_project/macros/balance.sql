{#-
  County value and students-weighted CV (spec §2) over the rows of `relation` (columns resource, students,
  value, scale) grouped by `keys`:  X = sum(R) / sum(P) (x scale);  CV = sqrt(sum(P_i/P (x_i - X)^2)) / X,
  NULL when X = 0. Rows with a NULL value (resource not reported) must be left out by the condition.

  variants: {suffix: condition}: one CV per variant over the rows that meet its condition (e.g. the official CV
  and the one without flagged parts), with columns county_value<suffix>, cv<suffix>, schools<suffix>,
  students<suffix>. Whatever their number, the rows are read in two passes: one grouped pass for every variant's
  X and P, then, joined back to the rows, one for every variant's sum of squares (FILTER clauses; §2's two-pass
  form, not a one-pass variance formula). A group none of whose rows meets a variant's condition gets NULL X, CV and
  students and 0 schools for it.
  extra: further select expressions of the second pass, over the rows `_r` of each group (e.g. counts).
-#}
{% macro weighted_cv(relation, keys, variants={'': 'true'}, extra=[]) -%}
    {#- exact_sum: the same rows give the same doubles whatever order the engine reads them in -#}
    select
        {% for k in keys %}_r.{{ k }}, {% endfor %}
        {%- for e in extra %}
        {{ e }},
        {%- endfor %}
        {%- for sfx, cond in variants.items() %}
        any_value(_g.x{{ sfx }}) as county_value{{ sfx }},
        case when any_value(_g.x{{ sfx }}) <> 0
            then sqrt({{ exact_sum('_r.students / _g.p' ~ sfx ~ ' * power(_r.value - _g.x' ~ sfx ~ ', 2)', filter=cond) }})
                 / any_value(_g.x{{ sfx }})
        end as cv{{ sfx }},
        count(*) filter (where {{ cond }}) as schools{{ sfx }},
        any_value(_g.p{{ sfx }}) as students{{ sfx }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ relation }} _r
    join (
        select
            {{ keys | join(', ') }},
            {%- for sfx, cond in variants.items() %}
            {{ exact_sum('resource', filter=cond) }} * any_value(scale) / {{ exact_sum('students', filter=cond) }} as x{{ sfx }},
            {{ exact_sum('students', filter=cond) }} as p{{ sfx }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ relation }}
        group by {{ keys | join(', ') }}
    ) _g using ({{ keys | join(', ') }})
    group by {% for k in keys %}_r.{{ k }}{{ ', ' if not loop.last }}{% endfor %}
{%- endmacro %}

{#- Evaluate one scorecard requirement: op in is_true / >= / > / <= / < / =. NULL value gives NULL. -#}
{% macro eval_requirement(value, op, threshold) -%}
    case {{ op }}
        when 'is_true' then {{ value }} = 1
        when '>=' then {{ value }} >= {{ threshold }}
        when '>' then {{ value }} > {{ threshold }}
        when '<=' then {{ value }} <= {{ threshold }}
        when '<' then {{ value }} < {{ threshold }}
        when '=' then {{ value }} = {{ threshold }}
    end
{%- endmacro %}
