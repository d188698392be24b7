{#-
  County value and students-weighted CV (spec §2) over the rows of `relation` (columns resource, students,
  value, scale) grouped by `keys`:  X = sum(R) / sum(P) (x scale);  CV = sqrt(sum(P_i/P (x_i - X)^2)) / X,
  NULL when X = 0. Rows with a NULL value (resource not reported) must be filtered out by the caller.
-#}
{% macro weighted_cv(relation, keys) -%}
    {#- exact_sum: the same rows give the same doubles whatever order the engine reads them in -#}
    select
        {% for k in keys %}_r.{{ k }}, {% endfor %}
        any_value(_g.x) as county_value,
        case when any_value(_g.x) <> 0
            then sqrt({{ exact_sum('_r.students / _g.p * power(_r.value - _g.x, 2)') }}) / any_value(_g.x)
        end as cv,
        count(*) as schools,
        any_value(_g.p) as students
    from {{ relation }} _r
    join (
        select
            {{ keys | join(', ') }},
            {{ exact_sum('resource') }} * any_value(scale) / {{ exact_sum('students') }} as x,
            {{ exact_sum('students') }} as p
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
