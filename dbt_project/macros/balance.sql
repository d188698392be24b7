{#-
  County value and students-weighted CV (spec §2) over the rows of `relation` (columns resource, students,
  value, scale) grouped by `keys`:  X = sum(R) / sum(P) (x scale);  CV = sqrt(sum(P_i/P (x_i - X)^2)) / X,
  NULL when X = 0. Rows with a NULL value (resource not reported) must be filtered out by the caller.
-#}
{% macro weighted_cv(relation, keys) -%}
    select
        {{ keys | join(', ') }},
        any_value(x) as county_value,
        case when any_value(x) <> 0
            then sqrt(sum(students / p * power(value - x, 2))) / any_value(x) end as cv,
        count(*) as schools,
        sum(students) as students
    from (
        select
            *,
            sum(resource) over w * scale / sum(students) over w as x,
            sum(students) over w as p
        from {{ relation }}
        window w as (partition by {{ keys | join(', ') }})
    ) _cv
    group by {{ keys | join(', ') }}
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
