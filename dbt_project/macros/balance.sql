{#-
  County value and students-weighted CV (spec §2) over the rows of `relation` (columns resource, students,
  value, scale) grouped by `keys`:  X = sum(R) / sum(P) (x scale);  CV = sqrt(sum(P_i/P (x_i - X)^2)) / X,
  NULL when X = 0. Rows with a NULL value (resource not reported) must be filtered out by the caller.
-#}
{% macro weighted_cv(relation, keys, order_by='school_code') -%}
    {#- ordered sums: the same rows give the same doubles whatever order the engine reads them in -#}
    select
        {% for k in keys %}_r.{{ k }}, {% endfor %}
        any_value(_g.x) as county_value,
        case when any_value(_g.x) <> 0
            then sqrt(sum(_r.students / _g.p * power(_r.value - _g.x, 2) order by _r.{{ order_by }})) / any_value(_g.x)
        end as cv,
        count(*) as schools,
        any_value(_g.p) as students
    from {{ relation }} _r
    join (
        select
            {{ keys | join(', ') }},
            sum(resource order by {{ order_by }}) * any_value(scale) / sum(students order by {{ order_by }}) as x,
            sum(students order by {{ order_by }}) as p
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
